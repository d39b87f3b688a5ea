// The connection status, always visible in the header: live, connecting,
// reconnecting (with the attempt), resyncing, closed (and why).
import type { ConnectionStatus, StatusDetail } from '@switchyard/sdk';
import { h, setText } from './dom';

const LABELS: Record<ConnectionStatus | 'none', string> = {
  none: 'no session',
  idle: 'idle',
  connecting: 'connecting',
  live: 'live',
  reconnecting: 'reconnecting',
  resyncing: 'resyncing',
  closed: 'closed',
};

export class StatusPill {
  readonly el = h('span', { class: 'status', role: 'status', 'data-status': 'none' });
  private readonly dot = h('span', { class: 'dot', 'aria-hidden': 'true' });
  private readonly text = h('span', {}, LABELS.none);

  constructor() {
    this.el.append(this.dot, this.text);
  }

  set(status: ConnectionStatus | 'none', detail: StatusDetail = {}): void {
    let label = LABELS[status];
    if (status === 'reconnecting' && detail.attempt) label += ` (attempt ${detail.attempt})`;
    if (status === 'resyncing' && detail.reason) label += ` (${detail.reason})`;
    if (status === 'closed' && detail.reason && detail.reason !== 'close') label += ` (${detail.reason.replace('_', ' ')})`;
    this.el.dataset.status = status;
    this.el.title = `Connection: ${label}`;
    setText(this.text, label);
  }
}
