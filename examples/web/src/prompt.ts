// The prompt box: a textarea (Enter sends, Shift+Enter is a new line), a
// `/` menu of the agent's commands (arrows, Enter/Tab to pick, Escape to
// close), the queue of prompts waiting behind the running turn, and Cancel.
import type { AvailableCommand, SessionViewState } from '@switchyard/sdk';
import { h, replace, setText, shortId, toggleAttr } from './dom';

export interface PromptHandlers {
  send(text: string): Promise<string | null>;
  cancel(): Promise<void>;
}

let menuSeq = 0;

export class PromptBox {
  readonly el: HTMLFormElement;
  readonly input: HTMLTextAreaElement;
  private readonly sendBtn: HTMLButtonElement;
  private readonly cancelBtn: HTMLButtonElement;
  private readonly queue = h('ol', { class: 'queue', 'aria-label': 'Queued prompts' });
  private readonly turn = h('span', { class: 'turn-state muted' });
  private readonly menu: HTMLUListElement;
  private commands: AvailableCommand[] = [];
  private matches: AvailableCommand[] = [];
  private active = -1;
  /** Texts of prompts sent from this tab, to label the queue. */
  private readonly mine = new Map<string, string>();
  private queueKey = '';

  constructor(private readonly handlers: PromptHandlers) {
    const menuId = `slash-menu-${++menuSeq}`;
    this.menu = h('ul', { class: 'slash-menu', id: menuId, role: 'listbox', 'aria-label': 'Commands', hidden: true });
    this.input = h('textarea', {
      id: 'prompt-input',
      name: 'prompt',
      rows: 2,
      placeholder: 'Message the agent — / for commands',
      autocomplete: 'off',
      role: 'combobox',
      'aria-autocomplete': 'list',
      'aria-controls': menuId,
      'aria-expanded': 'false',
    });
    this.sendBtn = h('button', { type: 'submit', class: 'primary' }, 'Send');
    this.cancelBtn = h('button', { type: 'button', class: 'danger', onclick: () => this.cancel() }, 'Cancel turn');
    this.el = h(
      'form',
      { class: 'prompt', 'aria-label': 'Prompt' },
      h('div', { class: 'prompt-status' }, this.turn, this.queue),
      h('label', { for: 'prompt-input', class: 'visually-hidden' }, 'Prompt'),
      h('div', { class: 'prompt-row' }, h('div', { class: 'prompt-field' }, this.menu, this.input), h('div', { class: 'prompt-buttons' }, this.sendBtn, this.cancelBtn)),
    );
    this.el.addEventListener('submit', (e) => {
      e.preventDefault();
      void this.send();
    });
    this.input.addEventListener('input', () => this.updateMenu());
    this.input.addEventListener('keydown', (e) => this.onKey(e));
    this.input.addEventListener('blur', () => this.closeMenu());
  }

  render(view: SessionViewState, canControl: boolean): void {
    this.commands = view.availableCommands;
    const ended = view.lifecycle.state !== 'alive';
    toggleAttr(this.input, 'disabled', !canControl || ended);
    toggleAttr(this.sendBtn, 'disabled', !canControl || ended);
    toggleAttr(this.cancelBtn, 'disabled', !canControl || !view.turn.running);
    this.input.placeholder = ended
      ? 'The session has ended'
      : canControl
        ? 'Message the agent — / for commands'
        : 'Observers watch: attach as control to prompt';
    const t = view.turn;
    setText(
      this.turn,
      ended ? `Session ${view.lifecycle.state}` : t.running ? 'Agent is working…' : t.lastError ? `Last turn failed: ${t.lastError.message}` : 'Ready',
    );
    this.turn.dataset.running = String(t.running);
    const key = JSON.stringify(t.queued);
    if (key !== this.queueKey) {
      this.queueKey = key;
      replace(
        this.queue,
        ...t.queued.map((id, i) =>
          h('li', { 'data-prompt-id': id }, `${i + 1}. `, this.mine.has(id) ? `“${clip(this.mine.get(id)!)}” (you)` : `prompt ${shortId(id)}`),
        ),
      );
      if (t.queued.length) this.queue.setAttribute('aria-label', `${t.queued.length} queued prompt${t.queued.length > 1 ? 's' : ''}`);
    }
  }

  private async send(): Promise<void> {
    const text = this.input.value.trim();
    if (!text) return;
    this.closeMenu();
    this.sendBtn.setAttribute('aria-busy', 'true');
    try {
      const id = await this.handlers.send(text);
      if (id !== null) {
        this.mine.set(id, text);
        this.input.value = '';
        this.queueKey = '';
      }
    } finally {
      this.sendBtn.removeAttribute('aria-busy');
    }
  }

  private async cancel(): Promise<void> {
    await this.handlers.cancel();
  }

  // ---- the / menu

  private updateMenu(): void {
    const v = this.input.value;
    const m = /^\/(\S*)$/.exec(v);
    if (!m || this.commands.length === 0) return this.closeMenu();
    const q = m[1].toLowerCase();
    this.matches = this.commands.filter((c) => c.name.toLowerCase().startsWith(q));
    if (this.matches.length === 0) return this.closeMenu();
    this.active = Math.min(Math.max(this.active, 0), this.matches.length - 1);
    replace(
      this.menu,
      ...this.matches.map((c, i) => {
        const hint = hintOf(c);
        const li = h(
          'li',
          { id: `${this.menu.id}-${i}`, role: 'option', 'aria-selected': String(i === this.active), 'data-command': c.name },
          h('span', { class: 'cmd' }, `/${c.name}`),
          hint ? h('span', { class: 'cmd-hint' }, ` ${hint}`) : null,
          h('span', { class: 'cmd-desc' }, c.description),
        );
        // mousedown, not click: it must beat the textarea's blur.
        li.addEventListener('mousedown', (e) => {
          e.preventDefault();
          this.pick(i);
        });
        return li;
      }),
    );
    this.menu.hidden = false;
    this.input.setAttribute('aria-expanded', 'true');
    this.input.setAttribute('aria-activedescendant', `${this.menu.id}-${this.active}`);
  }

  private closeMenu(): void {
    this.menu.hidden = true;
    this.active = -1;
    this.input.setAttribute('aria-expanded', 'false');
    this.input.removeAttribute('aria-activedescendant');
  }

  private pick(i: number): void {
    const c = this.matches[i];
    if (!c) return;
    this.input.value = `/${c.name} `;
    this.closeMenu();
    this.input.focus();
  }

  private onKey(e: KeyboardEvent): void {
    const open = !this.menu.hidden;
    if (open && (e.key === 'ArrowDown' || e.key === 'ArrowUp')) {
      e.preventDefault();
      const n = this.matches.length;
      this.active = (this.active + (e.key === 'ArrowDown' ? 1 : n - 1)) % n;
      this.updateMenu();
    } else if (open && (e.key === 'Enter' || e.key === 'Tab') && !e.shiftKey) {
      e.preventDefault();
      this.pick(this.active);
    } else if (open && e.key === 'Escape') {
      e.preventDefault();
      this.closeMenu();
    } else if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      this.el.requestSubmit();
    }
  }
}

function hintOf(c: AvailableCommand): string | null {
  const i = c.input as { hint?: unknown } | null;
  return i && typeof i.hint === 'string' ? i.hint : null;
}

function clip(s: string): string {
  return s.length > 40 ? `${s.slice(0, 39)}…` : s;
}
