// The agent view: pickers, plan, transcript, permission cards, prompt box.
// Everything renders from the SessionView the SDK reduces; controls and
// pickers in the same task as the frame, the transcript once per frame.
import type { SessionViewState } from '@switchyard/sdk';
import { h } from './dom';
import { newer } from './features';
import { PermissionCards } from './permissions';
import { Pickers } from './pickers';
import { PlanView } from './plan';
import { PromptBox } from './prompt';
import type { SessionContext } from './session';
import { Transcript } from './transcript';

export class AgentView {
  readonly el: HTMLElement;
  private readonly pickers: Pickers;
  private readonly plan = new PlanView();
  private readonly transcript = new Transcript();
  private readonly permissions: PermissionCards;
  private readonly prompt: PromptBox;
  private latest: SessionViewState | null = null;
  private frame = 0;

  constructor(private readonly ctx: SessionContext) {
    const { client, sessionId, errors } = ctx;
    this.pickers = new Pickers({
      setModel: (id) => ctx.run('Switch model', () => newer(client, 'setModel')(sessionId, id)),
      setMode: (mode, persist) =>
        ctx.run('Switch approval mode', () => newer(client, 'setApprovalMode')(sessionId, mode, persist || undefined)),
    });
    this.permissions = new PermissionCards(ctx.clientId, (requestId, optionId) =>
      ctx.run('Answer permission', () => client.choose(sessionId, requestId, optionId)),
    );
    this.prompt = new PromptBox({
      send: async (text) => {
        try {
          const r = await client.prompt(sessionId, text);
          return r.promptId;
        } catch (e) {
          errors.show(e, 'Send prompt');
          return null;
        }
      },
      cancel: () => ctx.run('Cancel turn', () => client.cancel(sessionId)),
    });
    this.el = h(
      'div',
      { class: 'agent-view' },
      this.pickers.el,
      this.plan.el,
      this.transcript.el,
      this.permissions.el,
      this.prompt.el,
    );
  }

  /** Called for every state the SDK reports (at most once per network chunk). */
  render(view: SessionViewState): void {
    this.latest = view;
    const canControl = this.ctx.role === 'control';
    // Synchronous: whoever changed these, this client shows it in the task
    // that delivered the frame.
    this.pickers.render(view, canControl);
    this.permissions.render(view, canControl);
    this.prompt.render(view, canControl);
    this.el.dataset.turnsEnded = String(view.turn.turnsEnded);
    this.el.dataset.running = String(view.turn.running);
    // The transcript and plan can be large: at most once per display frame.
    if (!this.frame) {
      this.frame = requestAnimationFrame(() => {
        this.frame = 0;
        if (!this.latest) return;
        this.plan.render(this.latest);
        this.transcript.render(this.latest);
        this.el.dataset.renderedEventId = String(this.latest.lastEventId);
      });
    }
  }

  focus(): void {
    if (!this.prompt.input.disabled) this.prompt.input.focus();
  }

  dispose(): void {
    if (this.frame) cancelAnimationFrame(this.frame);
  }
}
