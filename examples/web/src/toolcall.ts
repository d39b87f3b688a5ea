// One tool call: title, kind, status, provenance, files, and its content
// (text, diffs, embedded terminals), as the agent last reported them.
import type { JsonValue, ToolCallView } from '@switchyard/sdk';
import { h } from './dom';

type Obj = { [key: string]: JsonValue | undefined };
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

export function toolCallCard(tc: ToolCallView): HTMLElement {
  const provenance = tc.provenance === 'mcp' && tc.serverId ? `mcp: ${tc.serverId}` : tc.provenance;
  // Files the call touches, unless a diff below already names them.
  const diffed = new Set(tc.content.map((c) => (isObj(c) && c.type === 'diff' ? str(c.path) : null)));
  const paths = tc.locations
    .map((l) => (isObj(l) ? str(l.path) : null))
    .filter((p): p is string => !!p && !diffed.has(p));
  return h(
    'article',
    {
      class: `tool-call status-${tc.status}`,
      'data-tool-call-id': tc.toolCallId,
      'data-status': tc.status,
      'aria-label': `Tool call: ${tc.title || tc.toolCallId}, ${tc.status}`,
    },
    h(
      'header',
      {},
      h('span', { class: 'tool-title' }, tc.title || tc.toolCallId),
      h(
        'span',
        { class: 'badges' },
        h('span', { class: 'badge kind', title: 'kind' }, tc.kind),
        h('span', { class: `badge status status-${tc.status}`, title: 'status' }, tc.status.replace('_', ' ')),
        h('span', { class: 'badge provenance', title: 'provenance' }, provenance),
      ),
    ),
    paths.length ? h('p', { class: 'tool-paths' }, ...paths.map((p) => h('code', {}, p))) : null,
    ...tc.content.map(contentBlock),
  );
}

function contentBlock(c: JsonValue): HTMLElement | null {
  if (!isObj(c)) return null;
  switch (c.type) {
    case 'diff':
      return diffView(str(c.path) ?? '', str(c.oldText), str(c.newText) ?? '');
    case 'content': {
      const inner = c.content;
      if (isObj(inner) && inner.type === 'text') return h('pre', { class: 'tool-text' }, str(inner.text) ?? '');
      return h('p', { class: 'muted' }, `[${isObj(inner) ? String(inner.type) : 'content'}]`);
    }
    case 'terminal':
      return h('p', { class: 'muted' }, `Terminal ${str(c.terminalId) ?? ''}`);
    default:
      return h('p', { class: 'muted' }, `[${String(c.type)}]`);
  }
}

/** A line diff (LCS; old and new side by side in one column when large). */
export function diffView(path: string, oldText: string | null, newText: string): HTMLElement {
  const a = oldText === null ? [] : oldText.split('\n');
  const b = newText.split('\n');
  const lines = a.length * b.length <= 250_000 ? lcsDiff(a, b) : [...a.map((l) => ['-', l]), ...b.map((l) => ['+', l])];
  const added = lines.filter(([t]) => t === '+').length;
  const removed = lines.filter(([t]) => t === '-').length;
  return h(
    'figure',
    { class: 'diff' },
    h(
      'figcaption',
      {},
      h('code', {}, path),
      oldText === null ? ' (new file)' : '',
      h('span', { class: 'diff-stat' }, ` +${added} −${removed}`),
    ),
    h(
      'pre',
      { tabindex: 0, 'aria-label': `Diff of ${path}` },
      ...lines.map(([t, l]) =>
        h('span', { class: t === '+' ? 'add' : t === '-' ? 'del' : 'ctx' }, `${t === ' ' ? ' ' : t} ${l}\n`),
      ),
    ),
  );
}

function lcsDiff(a: string[], b: string[]): Array<[string, string]> {
  const n = a.length;
  const m = b.length;
  const dp = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--)
    for (let j = m - 1; j >= 0; j--)
      dp[i][j] = a[i] === b[j] ? dp[i + 1][j + 1] + 1 : Math.max(dp[i + 1][j], dp[i][j + 1]);
  const out: Array<[string, string]> = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (a[i] === b[j]) out.push([' ', a[i++]]), j++;
    else if (dp[i + 1][j] >= dp[i][j + 1]) out.push(['-', a[i++]]);
    else out.push(['+', b[j++]]);
  }
  while (i < n) out.push(['-', a[i++]]);
  while (j < m) out.push(['+', b[j++]]);
  return out;
}
