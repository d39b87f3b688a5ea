// The transcript: messages (markdown), collapsible thoughts and tool-call
// cards, in the order the view holds them. Rendering is incremental: an
// entry is rebuilt only when its content changed, so a long streamed turn
// costs the tail, not the whole history.
import type { SessionViewState, ToolCallView, TranscriptEntry } from '@switchyard/sdk';
import { h, setText } from './dom';
import { renderMarkdown } from './markdown';
import { toolCallCard } from './toolcall';

interface Row {
  key: string;
  el: HTMLElement;
  body?: HTMLElement;
}

export class Transcript {
  readonly el = h('div', { class: 'transcript', role: 'log', 'aria-label': 'Transcript', tabindex: 0 });
  private rows: Row[] = [];
  private readonly empty = h('p', { class: 'muted empty' }, 'No messages yet. Send a prompt below; type / for commands.');

  render(view: SessionViewState): void {
    const entries = view.transcript;
    const calls = new Map(view.toolCalls.map((t) => [t.toolCallId, t]));
    // A snapshot can replace the whole view (resync): start over.
    if (entries.length < this.rows.length) {
      this.el.replaceChildren();
      this.rows = [];
    }
    const stick = this.el.scrollHeight - this.el.scrollTop - this.el.clientHeight < 40;
    if (entries.length === 0) {
      if (!this.empty.isConnected) this.el.replaceChildren(this.empty);
      return;
    }
    this.empty.remove();
    entries.forEach((entry, i) => {
      const key = keyOf(entry, calls);
      const row = this.rows[i];
      if (row && row.key === key) return;
      const fresh = this.build(entry, calls, row);
      if (!row) this.el.append(fresh.el);
      else if (row.el !== fresh.el) row.el.replaceWith(fresh.el);
      this.rows[i] = fresh;
    });
    if (stick) this.el.scrollTop = this.el.scrollHeight;
  }

  /** Builds (or updates in place, for a growing message) one row. */
  private build(entry: TranscriptEntry, calls: Map<string, ToolCallView>, old?: Row): Row {
    const key = keyOf(entry, calls);
    if (entry.kind === 'message') {
      // Same message growing: update its body, keep the element (and a
      // thought's open/closed state).
      if (old?.body && old.key.startsWith(`m:${entry.role}:`) && old.el.dataset.messageStart === String(entry.promptId)) {
        this.fill(old.body, entry.role, entry.text);
        return { key, el: old.el, body: old.body };
      }
      const body = h('div', { class: 'body' });
      this.fill(body, entry.role, entry.text);
      const el =
        entry.role === 'thought'
          ? h('details', { class: 'msg thought' }, h('summary', {}, 'Thought'), body)
          : h(
              'div',
              { class: `msg ${entry.role}` },
              h('span', { class: 'who' }, entry.role === 'user' ? 'Prompt' : entry.role === 'agent' ? 'Agent' : entry.role),
              body,
            );
      el.dataset.role = entry.role;
      el.dataset.messageStart = String(entry.promptId);
      return { key, el, body };
    }
    if (entry.kind === 'tool_call') {
      const tc = calls.get(entry.toolCallId);
      return { key, el: tc ? toolCallCard(tc) : h('p', { class: 'muted' }, `Tool call ${entry.toolCallId}`) };
    }
    return { key, el: h('p', { class: 'muted' }, '[an entry this client does not know]') };
  }

  private fill(body: HTMLElement, role: string, text: string): void {
    if (role === 'agent' || role === 'thought') renderMarkdown(body, text);
    else setText(body, text);
  }
}

function keyOf(entry: TranscriptEntry, calls: Map<string, ToolCallView>): string {
  switch (entry.kind) {
    case 'message':
      return `m:${entry.role}:${entry.chunks}:${entry.text.length}:${entry.attachments.length}`;
    case 'tool_call': {
      const tc = calls.get(entry.toolCallId);
      return `t:${entry.toolCallId}:${tc ? tc.updates : -1}:${tc ? JSON.stringify(tc) : ''}`;
    }
    default:
      return 'u';
  }
}
