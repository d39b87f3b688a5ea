// One attached session: the attachment (client id and role), its
// Connection (the SDK reduces the stream into a SessionView), and the
// header, presence bar and kind-specific view that render from it.
import type {
  Client,
  Connection,
  ConnectionStatus,
  Frame,
  Role,
  SessionView,
  SessionViewState,
  StatusDetail,
} from '@switchyard/sdk';
import { AgentView } from './agent';
import { announce, h, setText, shortId } from './dom';
import type { ErrorPanel } from './errors';
import { PresenceBar } from './presence';
import type { StatusPill } from './status';
import { TerminalView } from './terminal';

/** What the views need from their session. */
export interface SessionContext {
  client: Client;
  sessionId: string;
  clientId: string;
  role: Role;
  errors: ErrorPanel;
  /** Runs an action, showing its error (with `label`) instead of throwing. */
  run(label: string, fn: () => Promise<unknown>): Promise<void>;
}

export interface Attachment {
  sessionId: string;
  clientId: string;
  role: Role;
  kind: string;
}

export class SessionController {
  readonly el: HTMLElement;
  private readonly ctx: SessionContext;
  private readonly presence: PresenceBar;
  private view: AgentView | TerminalView;
  private readonly title = h('h2', { class: 'session-title', tabindex: -1 });
  private readonly ended = h('p', { class: 'ended-note', role: 'status', hidden: true });
  private readonly closeBtn: HTMLButtonElement;
  private conn: Connection | null = null;
  /** Callbacks of a replaced connection are ignored. */
  private generation = 0;
  private frameTypes: string[] = [];
  // A stream the browser says has no network is dropped at once rather
  // than left to stall until TCP notices (minutes, after a network
  // switch): a new connection over the same view then resumes with
  // Last-Event-ID, and the SDK retries it as soon as the browser is online.
  private readonly onOffline = () => {
    const old = this.conn;
    if (!old) return;
    const view = old.view;
    this.generation += 1;
    old.close();
    this.connect(view);
  };
  private confirmClose = false;
  private attached = -1;

  constructor(
    client: Client,
    readonly attachment: Attachment,
    errors: ErrorPanel,
    private readonly status: StatusPill,
    private readonly leave: (detach: boolean) => void,
  ) {
    this.ctx = {
      client,
      sessionId: attachment.sessionId,
      clientId: attachment.clientId,
      role: attachment.role,
      errors,
      run: async (label, fn) => {
        try {
          await fn();
        } catch (e) {
          errors.show(e, label);
        }
      },
    };
    this.presence = new PresenceBar(attachment.clientId);
    this.view = attachment.kind === 'terminal' ? new TerminalView(this.ctx) : new AgentView(this.ctx);
    this.closeBtn = h(
      'button',
      { type: 'button', class: 'danger', disabled: attachment.role !== 'control', onclick: () => this.close() },
      'Close session',
    );
    this.el = h(
      'section',
      {
        class: `session kind-${attachment.kind}`,
        'aria-labelledby': 'session-title',
        'data-session-id': attachment.sessionId,
        'data-client-id': attachment.clientId,
        'data-role': attachment.role,
      },
      h(
        'header',
        { class: 'session-head' },
        h('button', { type: 'button', class: 'ghost back', onclick: () => this.leave(true), title: 'Detach and go back to the session list' }, '← Sessions'),
        this.title,
        h('span', { class: `badge role role-${attachment.role}`, title: 'Your role' }, attachment.role),
        h(
          'span',
          { class: 'session-actions' },
          h('button', { type: 'button', onclick: () => this.leave(true), title: 'Leave this session (others see you go)' }, 'Detach'),
          this.closeBtn,
        ),
      ),
      this.presence.el,
      this.ended,
      this.view.el,
    );
    this.title.id = 'session-title';
    setText(this.title, `${attachment.kind === 'terminal' ? 'Terminal' : 'Agent'} ${shortId(attachment.sessionId)}`);
  }

  /** Connects once the element is in the document. */
  start(): void {
    if (this.view instanceof TerminalView) this.view.mount();
    this.connect();
    window.addEventListener('offline', this.onOffline);
    this.view.focus();
  }

  /** Opens the event stream, into `view` when resuming one. */
  private connect(view?: SessionView): void {
    const gen = ++this.generation;
    const current = () => gen === this.generation;
    this.conn = this.ctx.client.connect(this.ctx.sessionId, {
      view,
      onStatus: (s, d) => current() && this.onStatus(s, d),
      onFrame: (f, outcome) => {
        if (!current()) return;
        this.frameTypes.push(f.type);
        if (f.type === 'session_snapshot') this.matchKind(f as Frame);
        if (this.view instanceof TerminalView) this.view.onFrame(f as Frame, outcome);
      },
      onState: (state) => current() && this.onState(state),
    });
  }

  /** The stream knows best what the session is: switch views if the summary was wrong. */
  private matchKind(snapshot: Frame): void {
    const kind = (snapshot.data as { view?: SessionViewState }).view?.session?.kind;
    if (!kind || (kind === 'terminal') === this.view instanceof TerminalView) return;
    const next = kind === 'terminal' ? new TerminalView(this.ctx) : new AgentView(this.ctx);
    this.view.el.replaceWith(next.el);
    this.view.dispose();
    this.view = next;
    this.el.classList.replace(`kind-${this.attachment.kind}`, `kind-${kind}`);
    if (next instanceof TerminalView) next.mount();
  }

  private onStatus(status: ConnectionStatus, detail: StatusDetail): void {
    this.status.set(status, detail);
    this.el.dataset.status = status;
    if (status === 'closed' && detail.reason === 'fatal' && detail.error) {
      this.ctx.errors.show(detail.error, 'Event stream');
    }
    announce('status', { sessionId: this.ctx.sessionId, status, detail });
  }

  private onState(state: SessionViewState): void {
    const s = state.session;
    const what = s.kind === 'terminal' ? `Terminal ${s.command ?? ''}` : `Agent ${s.agent ?? ''}`;
    setText(this.title, `${what.trim()} · ${shortId(this.ctx.sessionId)}`);
    this.title.title = `${this.ctx.sessionId}${s.cwd ? ` in ${s.cwd}` : ''}`;
    this.presence.render(state);
    const attached = state.presence.clients.length;
    if (attached !== this.attached) {
      this.attached = attached;
      // The session list polls; the open session's count is live here.
      announce('presence', { sessionId: this.ctx.sessionId, attached });
    }
    const alive = state.lifecycle.state === 'alive';
    this.ended.hidden = alive;
    if (!alive) {
      const l = state.lifecycle;
      setText(
        this.ended,
        `This session has ${l.state === 'closed' ? 'been closed' : 'ended'}${l.reason ? ` (${l.reason.replace(/_/g, ' ')})` : ''}${l.exitCode !== null ? `, exit status ${l.exitCode}` : ''}. Its history stays readable.`,
      );
    }
    this.closeBtn.disabled = this.ctx.role !== 'control' || !alive;
    this.view.render(state);
    this.el.dataset.lastEventId = String(state.lastEventId);
    const types = this.frameTypes;
    this.frameTypes = [];
    // Everything above ran in the task that delivered these frames.
    announce('rendered', { sessionId: this.ctx.sessionId, types, lastEventId: state.lastEventId });
  }

  private async close(): Promise<void> {
    if (!this.confirmClose) {
      this.confirmClose = true;
      setText(this.closeBtn, 'Confirm close');
      this.closeBtn.setAttribute('aria-describedby', 'session-title');
      return;
    }
    this.confirmClose = false;
    setText(this.closeBtn, 'Close session');
    await this.ctx.run('Close session', () => this.ctx.client.closeSession(this.ctx.sessionId));
  }

  /** Stops the stream; with `detach`, leaves the session too. */
  async dispose(detach: boolean): Promise<void> {
    window.removeEventListener('offline', this.onOffline);
    this.generation += 1;
    this.conn?.close();
    this.conn = null;
    this.view.dispose();
    this.status.set('none');
    if (detach) {
      try {
        await this.ctx.client.detach(this.ctx.sessionId);
      } catch {
        // Already gone (closed session, idle timeout): nothing to leave.
      }
    }
  }
}
