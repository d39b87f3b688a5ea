// The session list (refreshed every few seconds and after every change
// made here; the open session's attached count follows its live view) and
// the form that starts a new agent or terminal session.
import type { Capabilities, Client, SessionSummary } from '@switchyard/sdk';
import { h, replace, shortId } from './dom';
import type { ErrorPanel } from './errors';
import type { TerminalOptions } from './features';

const NAME_KEY = 'switchyard.name';
const REFRESH_MS = 2000;

export interface SessionsHandlers {
  /** Open `sessionId` as `role` (attaching). */
  open(sessionId: string, role: 'control' | 'observer'): void;
  /** A session was created here: open it with this attachment. */
  created(summary: { sessionId: string; clientId: string; role: 'control' | 'observer'; kind: string }): void;
}

export class SessionsPanel {
  readonly el: HTMLElement;
  private readonly list = h('ul', { class: 'session-list', 'aria-label': 'Sessions' });
  private readonly nameInput: HTMLInputElement;
  private timer = 0;
  private stopped = false;
  private current: string | null = null;
  private listKey = '';

  constructor(
    private readonly client: Client,
    private readonly caps: Capabilities,
    private readonly errors: ErrorPanel,
    private readonly handlers: SessionsHandlers,
  ) {
    this.nameInput = h('input', {
      id: 'your-name',
      name: 'name',
      type: 'text',
      maxlength: 60,
      autocomplete: 'nickname',
      placeholder: 'shown to others',
      value: localStorage.getItem(NAME_KEY) ?? '',
    });
    this.nameInput.addEventListener('change', () => localStorage.setItem(NAME_KEY, this.nameInput.value.trim()));
    this.el = h(
      'aside',
      { class: 'sessions', 'aria-label': 'Sessions' },
      h('div', { class: 'field' }, h('label', { for: 'your-name' }, 'Your name'), this.nameInput),
      this.createForm(),
      h('h2', {}, 'Sessions'),
      this.list,
    );
  }

  /** The display name to attach with. */
  get name(): string | undefined {
    return this.nameInput.value.trim() || undefined;
  }

  /** Marks the open session in the list. */
  setCurrent(sessionId: string | null): void {
    this.current = sessionId;
    for (const li of this.list.querySelectorAll<HTMLElement>('li[data-session-id]')) {
      if (li.dataset.sessionId === sessionId) li.setAttribute('aria-current', 'true');
      else li.removeAttribute('aria-current');
    }
  }

  start(): void {
    void this.refresh();
    document.addEventListener('switchyard:presence', (e) => {
      const { sessionId, attached } = (e as CustomEvent<{ sessionId: string; attached: number }>).detail;
      this.showAttached(sessionId, attached);
    });
    document.addEventListener('visibilitychange', () => document.visibilityState === 'visible' && this.refresh());
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /** Shows a session's attached count as its live view has it. */
  private showAttached(sessionId: string, attached: number): void {
    for (const el of this.list.querySelectorAll<HTMLElement>('li[data-session-id] .attached-count')) {
      if (el.closest<HTMLElement>('li')?.dataset.sessionId === sessionId) el.textContent = `${attached} attached`;
    }
  }

  /** Reloads the list now (and schedules the next reload). */
  async refresh(): Promise<void> {
    clearTimeout(this.timer);
    try {
      const sessions = (await this.client.listSessions()) as SessionSummary[];
      this.renderList(sessions);
    } catch (e) {
      this.errors.show(e, 'List sessions');
    }
    if (!this.stopped && document.visibilityState !== 'hidden') {
      this.timer = window.setTimeout(() => this.refresh(), REFRESH_MS);
    }
  }

  private renderList(sessions: SessionSummary[]): void {
    const newest = [...sessions].reverse();
    const key = JSON.stringify(newest.map((s) => [s.sessionId, s.status, s.clients.length, s.view.turn.running]));
    if (key === this.listKey) return;
    this.listKey = key;
    if (newest.length === 0) {
      replace(this.list, h('li', { class: 'muted empty' }, 'No sessions yet.'));
      return;
    }
    replace(
      this.list,
      ...newest.map((s) => {
        const running = s.status === 'running';
        const what = s.kind === 'terminal' ? 'Terminal' : `Agent ${s.agent}`;
        const label = `${what} ${shortId(s.sessionId)}`;
        return h(
          'li',
          {
            'data-session-id': s.sessionId,
            'data-kind': s.kind,
            class: `status-${s.status}`,
            'aria-current': s.sessionId === this.current ? 'true' : null,
          },
          h(
            'div',
            { class: 'session-line' },
            h('span', { class: 'session-name' }, label),
            h('span', { class: `badge status-${s.status}` }, running ? (s.view.turn.running ? 'working' : 'running') : s.status),
          ),
          h(
            'div',
            { class: 'session-meta muted' },
            h('span', { title: s.cwd }, s.cwd.split('/').filter(Boolean).pop() ?? s.cwd),
            ' · ',
            h('span', { class: 'attached-count' }, `${s.clients.length} attached`),
          ),
          h(
            'div',
            { class: 'session-buttons' },
            h(
              'button',
              { type: 'button', disabled: !running, 'aria-label': `Open ${label} as control`, onclick: () => this.handlers.open(s.sessionId, 'control') },
              'Open',
            ),
            h(
              'button',
              { type: 'button', class: 'ghost', 'aria-label': `Watch ${label} as observer`, onclick: () => this.handlers.open(s.sessionId, 'observer') },
              'Watch',
            ),
          ),
        );
      }),
    );
  }

  private createForm(): HTMLElement {
    const agents = this.caps.agents ?? [];
    const agentSelect = h(
      'select',
      { id: 'new-agent', name: 'agent' },
      ...agents.map((a) => h('option', { value: a.name, selected: a.name === this.caps.defaultAgent }, a.default ? `${a.name} (default)` : a.name)),
    );
    const cwd = h('input', { id: 'new-cwd', name: 'cwd', type: 'text', placeholder: "daemon's directory", autocomplete: 'off', spellcheck: 'false' });
    const command = h('input', { id: 'new-command', name: 'command', type: 'text', placeholder: 'your shell', autocomplete: 'off', spellcheck: 'false' });
    const agentBtn = h('button', { type: 'submit', class: 'primary', name: 'kind', value: 'agent' }, 'New agent session');
    const termBtn = h('button', { type: 'submit', name: 'kind', value: 'terminal' }, 'New terminal');
    const form = h(
      'form',
      { class: 'create', 'aria-label': 'New session' },
      h('div', { class: 'field' }, h('label', { for: 'new-agent' }, 'Agent'), agentSelect),
      h('div', { class: 'field' }, h('label', { for: 'new-command' }, 'Terminal command'), command),
      h('div', { class: 'field' }, h('label', { for: 'new-cwd' }, 'Workspace'), cwd),
      h('div', { class: 'buttons' }, agentBtn, termBtn),
    );
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const kind = (e.submitter as HTMLButtonElement | null)?.value === 'terminal' ? 'terminal' : 'agent';
      const dir = cwd.value.trim() || undefined;
      const busy = kind === 'terminal' ? termBtn : agentBtn;
      busy.setAttribute('aria-busy', 'true');
      busy.disabled = true;
      try {
        let created;
        if (kind === 'terminal') {
          const words = command.value.trim().split(/\s+/).filter(Boolean);
          const opts: TerminalOptions = { kind: 'terminal', cwd: dir, cols: 80, rows: 24, name: this.name };
          if (words.length) Object.assign(opts, { command: words[0], args: words.slice(1) });
          created = await this.client.createSession(opts as Parameters<Client['createSession']>[0]);
        } else {
          created = await this.client.createSession({ agent: agentSelect.value || undefined, cwd: dir, name: this.name });
        }
        this.handlers.created({ sessionId: created.sessionId, clientId: created.clientId, role: created.role as 'control', kind: String(created.kind ?? kind) });
        void this.refresh();
      } catch (err) {
        this.errors.show(err, kind === 'terminal' ? 'New terminal' : 'New agent session');
      } finally {
        busy.removeAttribute('aria-busy');
        busy.disabled = false;
      }
    });
    return form;
  }
}
