// The agent's current plan, one line per entry with its status.
import type { SessionViewState } from '@switchyard/sdk';
import { h, replace } from './dom';

const MARK: Record<string, string> = { completed: '✓', in_progress: '▸', pending: '○' };

export class PlanView {
  readonly el = h('section', { class: 'plan', 'aria-label': 'Plan', hidden: true });
  private key = '';

  render(view: SessionViewState): void {
    const key = JSON.stringify(view.plan);
    if (key === this.key) return;
    this.key = key;
    this.el.hidden = view.plan.length === 0;
    replace(
      this.el,
      h('h3', {}, 'Plan'),
      h(
        'ol',
        {},
        ...view.plan.map((e) =>
          h(
            'li',
            { class: `plan-${e.status} prio-${e.priority}`, 'data-status': e.status },
            h('span', { class: 'plan-mark', 'aria-hidden': 'true' }, MARK[e.status] ?? '•'),
            ' ',
            e.content,
            h('span', { class: 'visually-hidden' }, ` (${e.status.replace('_', ' ')}, ${e.priority} priority)`),
          ),
        ),
      ),
    );
  }
}
