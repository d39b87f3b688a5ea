// The application shell: header (connection status always visible),
// errors, the session list and the open session. The route is the hash,
// `#/s/<sessionId>/<control|observer>`, so a tab can be reloaded or a link
// shared (with the token kept out of it).
import { Client, SwitchyardError, type Capabilities, type Role } from '@switchyard/sdk';
import { announce, h, replace } from './dom';
import { ErrorPanel } from './errors';
import { SessionController, type Attachment } from './session';
import { SessionsPanel } from './sessions';
import { StatusPill } from './status';

export class App {
  private readonly errors = new ErrorPanel();
  private readonly status = new StatusPill();
  private readonly main = h('main', { class: 'main', id: 'main', tabindex: -1 });
  private readonly sessions: SessionsPanel;
  private current: SessionController | null = null;
  /** Attachments made by creating a session here, not yet opened. */
  private readonly created = new Map<string, Attachment>();
  private routeSeq = 0;

  constructor(
    private readonly root: HTMLElement,
    private readonly client: Client,
    caps: Capabilities,
  ) {
    this.sessions = new SessionsPanel(client, caps, this.errors, {
      open: (id, role) => this.go(id, role),
      created: (a) => {
        this.created.set(a.sessionId, a);
        this.go(a.sessionId, a.role);
      },
    });
    replace(
      root,
      h('a', { class: 'skip', href: '#main' }, 'Skip to session'),
      h(
        'header',
        { class: 'top' },
        h('h1', {}, 'Switchyard'),
        this.status.el,
        h('span', { class: 'version muted', title: `protocol ${caps.protocolVersion}` }, `v${caps.version}`),
      ),
      this.errors.el,
      h('div', { class: 'layout' }, this.sessions.el, this.main),
    );
    // The skip link must not rewrite the route.
    root.querySelector('a.skip')?.addEventListener('click', (e) => {
      e.preventDefault();
      this.main.focus();
    });
  }

  start(): void {
    this.sessions.start();
    window.addEventListener('hashchange', () => void this.route());
    void this.route();
  }

  private go(sessionId: string, role: Role): void {
    const hash = `#/s/${encodeURIComponent(sessionId)}/${role}`;
    if (location.hash === hash) void this.route();
    else location.hash = hash;
  }

  private async route(): Promise<void> {
    const seq = ++this.routeSeq;
    const m = /^#\/s\/([^/]+)\/(control|observer)$/.exec(location.hash);
    const want = m ? { sessionId: decodeURIComponent(m[1]), role: m[2] as Role } : null;
    const cur = this.current?.attachment;
    if (cur && want && cur.sessionId === want.sessionId && cur.role === want.role) return;
    if (this.current) {
      const old = this.current;
      this.current = null;
      void old.dispose(true).then(() => this.sessions.refresh());
    }
    this.sessions.setCurrent(want?.sessionId ?? null);
    if (!want) {
      this.root.dataset.view = 'list';
      replace(
        this.main,
        h(
          'div',
          { class: 'placeholder' },
          h('h2', {}, 'No session open'),
          h('p', {}, 'Start an agent session or a terminal, or open one from the list. Open the same session in another tab or browser to work together: every window stays in sync.'),
        ),
      );
      announce('route', { sessionId: null });
      return;
    }
    this.root.dataset.view = 'session';
    replace(this.main, h('p', { class: 'muted placeholder', role: 'status' }, 'Attaching…'));
    try {
      const attachment = await this.attach(want.sessionId, want.role);
      if (seq !== this.routeSeq) {
        await this.client.detach(attachment.sessionId).catch(() => {});
        return;
      }
      const ctl = new SessionController(this.client, attachment, this.errors, this.status, () => {
        location.hash = '';
      });
      this.current = ctl;
      replace(this.main, ctl.el);
      ctl.start();
      announce('route', { sessionId: attachment.sessionId, clientId: attachment.clientId, role: attachment.role });
    } catch (e) {
      if (seq !== this.routeSeq) return;
      const info = this.errors.show(e, 'Attach');
      replace(
        this.main,
        h(
          'div',
          { class: 'placeholder' },
          h('h2', {}, 'Could not open this session'),
          h('p', {}, h('code', {}, info.kind), ' ', info.message),
          h('p', {}, h('a', { href: '#' }, 'Back to the session list')),
        ),
      );
    }
  }

  private async attach(sessionId: string, role: Role): Promise<Attachment> {
    const made = this.created.get(sessionId);
    if (made && made.role === role) {
      this.created.delete(sessionId);
      return made;
    }
    const a = await this.client.attach(sessionId, role, this.sessions.name);
    const summary = await this.client.getSession(sessionId).catch(() => null);
    return { sessionId, clientId: a.clientId, role: a.role, kind: String(summary?.kind ?? 'agent') };
  }
}

/** A page for when the app cannot start (no token, bad token, no wasm). */
export function fatalPage(root: HTMLElement, title: string, e: unknown, withTokenForm?: (token: string) => void): void {
  const kind = e instanceof SwitchyardError ? e.kind : 'client_error';
  const message = e instanceof Error ? e.message : String(e);
  const hint = e instanceof SwitchyardError ? e.hint : undefined;
  const input = h('input', { id: 'token-input', type: 'password', autocomplete: 'off', spellcheck: 'false', required: true });
  const form = h(
    'form',
    { class: 'token-form' },
    h('label', { for: 'token-input' }, 'Token'),
    input,
    h('button', { type: 'submit', class: 'primary' }, 'Connect'),
  );
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    if (input.value.trim()) withTokenForm?.(input.value);
  });
  replace(
    root,
    h(
      'div',
      { class: 'fatal', role: 'alert' },
      h('h1', {}, 'Switchyard'),
      h('h2', {}, title),
      h('p', {}, h('code', { class: 'error-kind' }, kind), ' ', message),
      hint ? h('p', { class: 'error-hint' }, 'Hint: ', hint) : null,
      withTokenForm
        ? h(
            'div',
            {},
            h('p', {}, 'Open the URL the daemon printed (it ends in ?token=…), or paste the token from <data-dir>/token:'),
            form,
          )
        : null,
    ),
  );
  if (withTokenForm) input.focus();
}
