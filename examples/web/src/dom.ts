// A tiny DOM builder: enough structure without a framework. Text always
// goes in as text nodes (never parsed as HTML); markdown.ts is the only
// place that produces HTML, and it sanitizes it.

type Child = Node | string | number | false | null | undefined;
type Attrs = Record<string, string | number | boolean | null | undefined | EventListener>;

/** `h('button', { class: 'x', onclick: fn }, 'Label')`. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2), value);
    } else if (value === true) {
      el.setAttribute(key, '');
    } else {
      el.setAttribute(key, String(value));
    }
  }
  append(el, ...children);
  return el;
}

/** Appends children, skipping empty ones. */
export function append(el: Node, ...children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
}

/** Replaces an element's children. */
export function replace(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, ...children);
}

/** Sets a boolean attribute (disabled, hidden, ...) only when it changes. */
export function toggleAttr(el: Element, name: string, on: boolean): void {
  if (el.hasAttribute(name) !== on) el.toggleAttribute(name, on);
}

/** Sets text only when it changes (keeps selection and avoids relayout). */
export function setText(el: Element, text: string): void {
  if (el.textContent !== text) el.textContent = text;
}

/** A short, stable form of a daemon id (`c_3f2a…` → `3f2a`). */
export function shortId(id: string): string {
  const bare = id.replace(/^[a-z]+_/, '');
  return bare.slice(0, 6);
}

/** Announces a DOM event other code (and the browser tests) can wait on. */
export function announce(name: string, detail: unknown): void {
  document.dispatchEvent(new CustomEvent(`switchyard:${name}`, { detail }));
}
