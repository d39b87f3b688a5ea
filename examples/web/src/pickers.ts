// Model and approval-mode pickers. They show the view's current values and
// follow changes from anyone synchronously, in the same task that applies
// the frame. A change made here is sent; the picker then shows whatever
// the view says (the switch, or the old value when it failed).
import type { JsonValue, SessionViewState } from '@switchyard/sdk';
import { h, replace, toggleAttr } from './dom';

type Obj = { [key: string]: JsonValue | undefined };
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

interface Choice {
  id: string;
  name: string;
}

const KNOWN_MODES: Choice[] = [
  { id: 'default', name: 'Default' },
  { id: 'plan', name: 'Plan' },
  { id: 'auto-edit', name: 'Auto-edit' },
  { id: 'yolo', name: 'YOLO' },
];

export function modelChoices(view: SessionViewState): Choice[] {
  const out: Choice[] = [];
  for (const m of view.model.availableModels) {
    if (isObj(m) && typeof m.modelId === 'string') out.push({ id: m.modelId, name: String(m.name ?? m.modelId) });
  }
  if (out.length === 0) {
    // Agents on the newer schema list models as a config option.
    for (const o of view.configOptions) {
      if (!isObj(o) || o.category !== 'model' || !Array.isArray(o.options)) continue;
      for (const v of o.options) if (isObj(v) && typeof v.value === 'string') out.push({ id: v.value, name: String(v.name ?? v.value) });
    }
  }
  return out;
}

export function modeChoices(view: SessionViewState): Choice[] {
  const out: Choice[] = [];
  for (const m of view.mode.availableModes) {
    if (isObj(m) && typeof m.id === 'string') out.push({ id: m.id, name: String(m.name ?? m.id) });
  }
  return out.length ? out : KNOWN_MODES;
}

class Picker {
  readonly select: HTMLSelectElement;
  readonly el: HTMLElement;
  private optionsKey = '';
  private busy = false;

  constructor(
    readonly id: string,
    label: string,
    private readonly onPick: (value: string) => Promise<void>,
  ) {
    this.select = h('select', { id, name: id });
    this.el = h('div', { class: 'picker' }, h('label', { for: id }, label), this.select);
    this.select.addEventListener('change', async () => {
      this.busy = true;
      this.select.setAttribute('aria-busy', 'true');
      try {
        await this.onPick(this.select.value);
      } finally {
        this.busy = false;
        this.select.removeAttribute('aria-busy');
        this.sync();
      }
    });
  }

  private current: string | null = null;

  render(choices: Choice[], current: string | null, enabled: boolean): void {
    const all = current && !choices.some((c) => c.id === current) ? [...choices, { id: current, name: current }] : choices;
    const key = JSON.stringify(all);
    if (key !== this.optionsKey) {
      this.optionsKey = key;
      replace(this.select, ...(current ? [] : [h('option', { value: '' }, '—')]), ...all.map((c) => h('option', { value: c.id }, c.name)));
    }
    this.current = current;
    toggleAttr(this.select, 'disabled', !enabled || all.length === 0);
    if (!this.busy) this.sync();
  }

  private sync(): void {
    this.select.value = this.current ?? '';
    this.select.dataset.current = this.current ?? '';
  }
}

export class Pickers {
  readonly el: HTMLElement;
  private readonly model: Picker;
  private readonly mode: Picker;
  private readonly persist = h('input', { type: 'checkbox', id: 'mode-persist' });
  private readonly note = h('span', { class: 'muted picker-note' });

  constructor(handlers: { setModel: (id: string) => Promise<void>; setMode: (id: string, persist: boolean) => Promise<void> }) {
    this.model = new Picker('model-picker', 'Model', handlers.setModel);
    this.mode = new Picker('mode-picker', 'Approval mode', (id) => handlers.setMode(id, this.persist.checked));
    this.el = h(
      'div',
      { class: 'pickers', role: 'group', 'aria-label': 'Model and approval mode' },
      this.model.el,
      this.mode.el,
      h('label', { class: 'persist', for: 'mode-persist' }, this.persist, ' default for this workspace'),
      this.note,
    );
  }

  render(view: SessionViewState, canControl: boolean): void {
    this.model.render(modelChoices(view), view.model.currentModelId, canControl);
    this.mode.render(modeChoices(view), view.mode.currentModeId, canControl);
    toggleAttr(this.persist, 'disabled', !canControl);
    const err = view.model.lastSwitchError;
    const text = err ? `Model switch to ${err.requestedModelId} failed: ${err.error}` : view.mode.persisted ? 'Mode saved as workspace default' : '';
    if (this.note.textContent !== text) this.note.textContent = text;
  }
}
