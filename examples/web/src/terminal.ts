// The terminal view: xterm.js fed by the session's frames. The owner types
// (keystrokes go to POST /input, in order); everyone else watches
// read-only. A late joiner's screen comes from the snapshot
// (`session_snapshot.data.screen`: scrollback, then the formatted screen).
import { FitAddon } from '@xterm/addon-fit';
import { Terminal } from '@xterm/xterm';
import '@xterm/xterm/css/xterm.css';
import type { ApplyOutcome, Frame, SessionViewState } from '@switchyard/sdk';
import { h, setText, toggleAttr } from './dom';
import { newer } from './features';
import type { SessionContext } from './session';

interface Screen {
  cols: number;
  rows: number;
  formatted: string;
  scrollback?: string;
}

export class TerminalView {
  readonly el: HTMLElement;
  readonly term: Terminal;
  private readonly fit = new FitAddon();
  private readonly host = h('div', { class: 'term-host' });
  private readonly note = h('p', { class: 'term-note muted', role: 'status' });
  private readonly claim: HTMLButtonElement;
  private readonly release: HTMLButtonElement;
  private readonly interrupt: HTMLButtonElement;
  private readonly clear: HTMLButtonElement;
  private readonly fitBtn: HTMLButtonElement;
  private owner = false;
  private pending = '';
  private sending = false;
  private resizeTimer = 0;
  private readonly onWindowResize = () => {
    clearTimeout(this.resizeTimer);
    this.resizeTimer = window.setTimeout(() => this.owner && this.fitToWindow(), 200);
  };

  constructor(private readonly ctx: SessionContext) {
    const { client, sessionId } = ctx;
    this.term = new Terminal({
      cols: 80,
      rows: 24,
      disableStdin: true,
      scrollback: 5000,
      convertEol: false,
      cursorBlink: false,
      fontFamily: 'ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace',
      fontSize: 13,
      screenReaderMode: false,
    });
    this.term.loadAddon(this.fit);
    const btn = (label: string, title: string, fn: () => Promise<unknown>) =>
      h('button', { type: 'button', title, onclick: () => ctx.run(label, fn) }, label);
    this.claim = btn('Claim', 'Become the owner: your keystrokes go to the terminal', () => newer(client, 'claimOwner')(sessionId));
    this.release = btn('Release', 'Stop being the owner', () => newer(client, 'releaseOwner')(sessionId));
    this.interrupt = btn('Ctrl-C', 'Send SIGINT to the process', () => newer(client, 'signal')(sessionId, 'INT'));
    this.clear = btn('Clear scrollback', 'Clear the scrollback for everyone', () => newer(client, 'clearScrollback')(sessionId));
    this.fitBtn = btn('Fit', 'Resize the terminal to this window', async () => this.fitToWindow());
    this.el = h(
      'div',
      { class: 'terminal-view' },
      h('div', { class: 'term-toolbar', role: 'toolbar', 'aria-label': 'Terminal' }, this.claim, this.release, this.interrupt, this.clear, this.fitBtn, this.note),
      this.host,
    );
    this.term.onData((d) => this.type(d));
    window.addEventListener('resize', this.onWindowResize);
  }

  /** Opens xterm once the element is in the document. */
  mount(): void {
    if (this.term.element) return;
    this.term.open(this.host);
    this.term.textarea?.setAttribute('aria-label', 'Terminal input');
  }

  /** Every frame, after the SDK applied it (replayed duplicates are `stale`). */
  onFrame(frame: Frame, outcome: ApplyOutcome): void {
    if (outcome !== 'applied') return;
    const data = frame.data as Record<string, unknown>;
    switch (frame.type) {
      case 'session_snapshot':
        this.drawSnapshot(data);
        break;
      case 'terminal_output':
        if (typeof data.data === 'string') this.term.write(data.data);
        break;
      case 'terminal_resized':
        if (typeof data.cols === 'number' && typeof data.rows === 'number') this.term.resize(data.cols, data.rows);
        break;
    }
  }

  private drawSnapshot(data: Record<string, unknown>): void {
    this.term.reset();
    const screen = data.screen as Screen | undefined;
    if (screen && typeof screen.formatted === 'string') {
      this.term.resize(screen.cols, screen.rows);
      if (screen.scrollback) this.term.write(`${screen.scrollback}\r\n`);
      this.term.write(screen.formatted);
      this.el.dataset.screenSource = 'snapshot-screen';
      return;
    }
    // A daemon without screen snapshots: replay the view's output tail.
    const view = data.view as SessionViewState | undefined;
    const t = view?.terminal;
    if (t) {
      this.term.resize(t.cols, t.rows);
      this.term.write(t.output);
    }
    this.el.dataset.screenSource = 'snapshot-tail';
  }

  render(view: SessionViewState): void {
    const me = this.ctx.clientId;
    const control = this.ctx.role === 'control';
    const ownerId = view.presence.ownerClientId;
    this.owner = ownerId === me;
    const exited = view.terminal?.exited ?? null;
    const ended = view.lifecycle.state !== 'alive' || exited !== null;
    this.term.options.disableStdin = !this.owner || ended;
    toggleAttr(this.claim, 'disabled', !control || this.owner || ended);
    toggleAttr(this.release, 'disabled', !this.owner || ended);
    toggleAttr(this.interrupt, 'disabled', !this.owner || ended);
    toggleAttr(this.clear, 'disabled', !this.owner || ended);
    toggleAttr(this.fitBtn, 'disabled', !this.owner || ended);
    this.el.dataset.owner = String(this.owner);
    let note: string;
    if (exited) note = `Exited${exited.exitCode !== null ? ` with status ${exited.exitCode}` : ''}${exited.signal ? ` (${exited.signal})` : ''}`;
    else if (ended) note = `Session ${view.lifecycle.state}`;
    else if (this.owner) note = 'You are typing';
    else if (!control) note = 'Read-only: observers watch';
    else note = ownerId ? 'Read-only: someone else owns the terminal — Claim to type' : 'Read-only: Claim to type';
    setText(this.note, note);
  }

  private fitToWindow(): Promise<unknown> | void {
    const d = this.fit.proposeDimensions();
    if (!d || !Number.isFinite(d.cols) || !Number.isFinite(d.rows)) return;
    const cols = Math.max(20, d.cols);
    const rows = Math.max(5, d.rows);
    if (cols === this.term.cols && rows === this.term.rows) return;
    return this.ctx.run('Resize terminal', () => newer(this.ctx.client, 'resize')(this.ctx.sessionId, cols, rows));
  }

  /** Keystrokes go out in order: one request at a time, batching what piles up. */
  private type(data: string): void {
    if (!this.owner) return;
    this.pending += data;
    void this.flush();
  }

  private async flush(): Promise<void> {
    if (this.sending) return;
    this.sending = true;
    try {
      while (this.pending) {
        const chunk = this.pending;
        this.pending = '';
        await this.ctx.run('Terminal input', () => newer(this.ctx.client, 'input')(this.ctx.sessionId, chunk));
      }
    } finally {
      this.sending = false;
    }
  }

  focus(): void {
    this.term.focus();
  }

  dispose(): void {
    window.removeEventListener('resize', this.onWindowResize);
    clearTimeout(this.resizeTimer);
    this.term.dispose();
  }
}
