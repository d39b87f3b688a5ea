// Errors, shown with their kind and hint: the daemon's `{kind, message,
// hint}` as the SDK's SwitchyardError carries it, or one of the client's
// own kinds. Never a blank screen: every failure lands here.
import { SwitchyardError } from '@switchyard/sdk';
import { h, replace } from './dom';

/** What the panel shows. */
export interface ErrorInfo {
  kind: string;
  message: string;
  hint?: string;
  status?: number;
}

/** An error raised by the client itself (a missing capability, ...). */
export class ClientError extends Error {
  constructor(
    readonly kind: string,
    message: string,
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'ClientError';
  }
}

/** Whether a daemon answer says the route itself does not exist. */
export function isMissingRoute(e: unknown): boolean {
  return e instanceof SwitchyardError && e.kind === 'http_error' && (e.status === 404 || e.status === 405);
}

/** Normalizes anything thrown into what the panel shows. */
export function describe(e: unknown): ErrorInfo {
  if (e instanceof SwitchyardError) {
    if (isMissingRoute(e)) {
      return {
        kind: 'unsupported',
        message: `this daemon has no such route (HTTP ${e.status})`,
        hint: 'the daemon is older than this client: update switchyard',
        status: e.status,
      };
    }
    return { kind: e.kind, message: e.message, hint: e.hint, status: e.status };
  }
  if (e instanceof ClientError) return { kind: e.kind, message: e.message, hint: e.hint };
  if (e instanceof Error) return { kind: 'client_error', message: e.message };
  return { kind: 'client_error', message: String(e) };
}

/** The error list at the top of the page (each error is role=alert: read out when shown). */
export class ErrorPanel {
  readonly el = h('section', { class: 'errors', 'aria-label': 'Errors' });
  private items: Array<{ info: ErrorInfo; context: string; count: number }> = [];

  /** Shows `e`; `context` says what was being done ("Send prompt"). */
  show(e: unknown, context = ''): ErrorInfo {
    const info = describe(e);
    const same = this.items.find(
      (i) => i.info.kind === info.kind && i.info.message === info.message && i.context === context,
    );
    if (same) same.count += 1;
    else this.items.push({ info, context, count: 1 });
    // Keep the last few: a flapping network should not bury the page.
    this.items = this.items.slice(-4);
    this.render();
    return info;
  }

  clear(): void {
    this.items = [];
    this.render();
  }

  private render(): void {
    replace(
      this.el,
      ...this.items.map((item, i) =>
        h(
          'div',
          { class: 'error', role: 'alert', 'data-kind': item.info.kind },
          h(
            'p',
            { class: 'error-head' },
            h('code', { class: 'error-kind' }, item.info.kind),
            item.context ? ` ${item.context}: ` : ' ',
            item.info.message,
            item.count > 1 ? ` (×${item.count})` : '',
          ),
          item.info.hint ? h('p', { class: 'error-hint' }, 'Hint: ', item.info.hint) : null,
          h(
            'button',
            {
              type: 'button',
              class: 'ghost small',
              'aria-label': `Dismiss error ${item.info.kind}`,
              onclick: () => {
                this.items.splice(i, 1);
                this.render();
              },
            },
            'Dismiss',
          ),
        ),
      ),
    );
  }
}
