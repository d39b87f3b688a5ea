// Permission cards: every control client gets the agent's options; the
// first vote wins and every client then shows who resolved it and how.
// Observers see the cards with the buttons disabled.
import type { JsonValue, PendingPermission, PermissionOption, SessionViewState } from '@switchyard/sdk';
import { h, replace } from './dom';
import { clientLabel } from './presence';

type Obj = { [key: string]: JsonValue | undefined };
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** What a resolved card can say about its request (cached from the pending one). */
interface Seen {
  title: string;
  options: PermissionOption[];
}

export class PermissionCards {
  readonly el = h('section', { class: 'permissions', 'aria-label': 'Permission requests' });
  private seen = new Map<string, Seen>();
  private key = '';

  constructor(
    private readonly me: string,
    private readonly onVote: (requestId: string, optionId: string) => Promise<void>,
  ) {}

  render(view: SessionViewState, canVote: boolean): void {
    const { pending, resolved } = view.permissions;
    for (const p of pending) this.seen.set(p.requestId, { title: titleOf(p), options: p.options });
    const recent = resolved.slice(-3);
    const key = JSON.stringify([pending, recent, canVote, view.presence.clients]);
    if (key === this.key) return;
    // Keep keyboard focus on the card being answered when it re-renders.
    const focused = document.activeElement instanceof HTMLElement ? document.activeElement.dataset.focusKey : undefined;
    this.key = key;
    replace(
      this.el,
      ...recent.map((r) => {
        const seen = this.seen.get(r.requestId);
        const option = seen?.options.find((o) => o.optionId === r.optionId);
        const how =
          r.outcome === 'selected'
            ? `${option?.name ?? r.optionId}`
            : r.outcome === 'cancelled'
              ? 'cancelled'
              : 'resolved elsewhere';
        const who = clientLabel(view, r.voterClientId, this.me);
        return h(
          'article',
          {
            class: `permission resolved outcome-${r.outcome} ${option ? `opt-${option.kind}` : ''}`,
            'data-request-id': r.requestId,
            'data-outcome': r.outcome,
            'data-option-id': r.optionId ?? '',
            'data-voter': r.voterClientId ?? '',
          },
          h('p', { class: 'perm-title' }, seen?.title ?? `Request ${r.requestId}`),
          h(
            'p',
            { class: 'perm-result' },
            r.outcome === 'selected' ? h('strong', {}, how) : how,
            r.voterClientId ? ` by ${who}` : '',
          ),
        );
      }),
      ...pending.map((p) => this.card(p, canVote)),
    );
    if (focused) this.el.querySelector<HTMLElement>(`[data-focus-key="${CSS.escape(focused)}"]`)?.focus();
  }

  private card(p: PendingPermission, canVote: boolean): HTMLElement {
    const tc = isObj(p.toolCall) ? p.toolCall : {};
    const raw = isObj(tc.rawInput) ? tc.rawInput : null;
    const preview = raw && typeof raw.content === 'string' ? raw.content : null;
    const title = titleOf(p);
    return h(
      'article',
      {
        class: 'permission pending',
        'data-request-id': p.requestId,
        'aria-label': `Permission request: ${title}`,
      },
      h('p', { class: 'perm-title' }, h('span', { class: 'badge kind' }, String(tc.kind ?? 'tool')), ' ', title),
      preview !== null ? h('pre', { class: 'perm-preview' }, preview.slice(0, 2000)) : null,
      h(
        'div',
        { class: 'perm-options', role: 'group', 'aria-label': 'Answer' },
        ...p.options.map((o) => {
          const btn = h(
            'button',
            {
              type: 'button',
              class: `opt opt-${o.kind}`,
              'data-option-id': o.optionId,
              'data-focus-key': `${p.requestId}/${o.optionId}`,
              disabled: !canVote,
              title: canVote ? `${o.name} (${o.kind.replace('_', ' ')})` : 'Observers cannot answer',
            },
            o.name,
          );
          btn.addEventListener('click', async () => {
            btn.setAttribute('aria-busy', 'true');
            try {
              await this.onVote(p.requestId, o.optionId);
            } finally {
              btn.removeAttribute('aria-busy');
            }
          });
          return btn;
        }),
      ),
    );
  }
}

function titleOf(p: PendingPermission): string {
  const tc = isObj(p.toolCall) ? p.toolCall : {};
  return typeof tc.title === 'string' && tc.title ? tc.title : `Tool call ${String(tc.toolCallId ?? p.requestId)}`;
}
