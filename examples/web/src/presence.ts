// Who is attached: name (or short id), role, the terminal owner, and "you".
import type { ClientInfo, SessionViewState } from '@switchyard/sdk';
import { h, replace, shortId } from './dom';

/** How a client is named everywhere in the UI. */
export function clientLabel(view: SessionViewState, clientId: string | null, me: string): string {
  if (!clientId) return 'the daemon';
  if (clientId === me) return 'you';
  const c = view.presence.clients.find((x) => x.clientId === clientId);
  return c?.name || `client ${shortId(clientId)}`;
}

export class PresenceBar {
  readonly el = h('ul', { class: 'presence', 'aria-label': 'Attached clients' });
  private key = '';

  constructor(private readonly me: string) {}

  render(view: SessionViewState): void {
    const { clients, ownerClientId } = view.presence;
    const key = JSON.stringify([clients, ownerClientId]);
    if (key === this.key) return;
    this.key = key;
    replace(this.el, ...clients.map((c) => this.chip(c, ownerClientId)));
  }

  private chip(c: ClientInfo, owner: string | null): HTMLLIElement {
    const mine = c.clientId === this.me;
    const name = c.name || `client ${shortId(c.clientId)}`;
    return h(
      'li',
      {
        class: `chip role-${c.role}${mine ? ' me' : ''}`,
        'data-client-id': c.clientId,
        'data-role': c.role,
        title: `${name} (${c.clientId}), ${c.role}${c.clientId === owner ? ', terminal owner' : ''}`,
      },
      h('span', { class: 'chip-name' }, name),
      mine ? h('span', { class: 'chip-you' }, ' (you)') : null,
      h('span', { class: 'chip-role' }, c.role),
      c.clientId === owner ? h('span', { class: 'chip-owner' }, 'owner') : null,
    );
  }
}
