// A panic throws a JS Error with its message and poisons the module: every
// later call throws "switchyard sdk is unusable after an internal error".
// Runs in a child process, since poisoning is for the life of the module.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';

const script = `
import * as sdk from ${JSON.stringify(new URL('../node.js', import.meta.url).href)};
import { __panicForTests } from ${JSON.stringify(new URL('../dist/switchyard_sdk.js', import.meta.url).href)};
const view = new sdk.SessionView();
const out = {};
try { __panicForTests('boom 42'); out.first = 'no throw'; } catch (e) { out.first = String(e && e.message); out.isError = e instanceof Error; }
for (const [name, f] of [
  ['apply', () => view.apply('{}')],
  ['new', () => new sdk.SessionView()],
  ['client', () => new sdk.Client({ baseUrl: 'http://127.0.0.1:1' })],
  ['lastEventId', () => view.lastEventId],
]) {
  try { f(); out[name] = 'no throw'; } catch (e) { out[name] = String(e && e.message); }
}
console.log(JSON.stringify(out));
`;

test('a panic surfaces as an Error and poisons the module', () => {
  const out = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' }));
  assert.equal(out.isError, true);
  assert.match(out.first, /boom 42/);
  for (const name of ['apply', 'new', 'client', 'lastEventId']) {
    assert.match(out[name], /^switchyard sdk is unusable after an internal error: boom 42/, name);
  }
});
