// Conformance vectors (tests/vectors/*.json) through the wasm build in Node:
// string path, object path and applyBatch must agree with each other and
// with the vector's expected view. With NATIVE_VIEWS=<file of
// "<vector>\t<native view JSON>" lines>, stateJson() is also compared byte
// for byte with the native build's SessionView::to_json().
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { SessionView } from '../node.js';

const dir = new URL('../../tests/vectors/', import.meta.url);
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .sort();

const native = new Map();
if (process.env.NATIVE_VIEWS) {
  for (const line of readFileSync(process.env.NATIVE_VIEWS, 'utf8').split('\n')) {
    const tab = line.indexOf('\t');
    if (tab > 0) native.set(line.slice(0, tab), line.slice(tab + 1));
  }
}

/** RFC 6901 JSON Pointer. */
function resolve(doc, pointer) {
  if (pointer === '') return doc;
  return pointer
    .slice(1)
    .split('/')
    .map((t) => t.replaceAll('~1', '/').replaceAll('~0', '~'))
    .reduce((v, k) => (v === undefined || v === null ? undefined : v[k]), doc);
}

test('there are vectors', () => assert.ok(files.length > 0));

for (const file of files) {
  test(file, () => {
    const vector = JSON.parse(readFileSync(new URL(file, dir), 'utf8'));
    const texts = vector.frames.map((f) => (typeof f === 'string' ? f : JSON.stringify(f)));

    const byText = new SessionView();
    const outcomes = texts.map((t) => byText.apply(t));
    for (const o of outcomes) {
      assert.ok(['applied', 'unknown', 'stale', 'gated', 'invalid', 'malformed'].includes(o), o);
    }
    const byObject = new SessionView();
    for (const f of vector.frames) byObject.apply(f);
    const batch = new SessionView();
    const applied = batch.applyBatch(vector.frames);

    const json = byText.stateJson();
    assert.equal(byObject.stateJson(), json, 'object path == string path');
    assert.equal(batch.stateJson(), json, 'applyBatch == apply');
    assert.equal(applied, outcomes.filter((o) => o === 'applied').length);

    const state = byText.state();
    assert.deepEqual(JSON.parse(json), vector.view, 'stateJson() == expected view');
    assert.deepEqual(state, vector.view, 'state() == expected view (plain objects)');
    assert.equal(byText.lastEventId, vector.view.lastEventId);
    assert.equal(byText.awaitingResync, vector.view.stream.awaitingResync);
    for (const [pointer, expected] of Object.entries(vector.checks ?? {})) {
      assert.deepEqual(resolve(state, pointer), expected, `check ${pointer}`);
    }
    if (native.size > 0) {
      assert.ok(native.has(file), `no native view for ${file}`);
      assert.equal(json, native.get(file), 'byte-identical to the native build');
    }
    byText.free();
    byObject.free();
    batch.free();
  });
}

test('apply and applyBatch edge cases', () => {
  const view = new SessionView();
  assert.equal(view.apply(undefined), 'malformed');
  assert.equal(view.apply(null), 'malformed');
  assert.equal(view.apply({ v: 1, type: 'x', data: { big: 10n } }), 'malformed'); // JSON.stringify throws
  assert.equal(view.apply('{"v":1,"id":1,"type":"brand_new_type","data":{}}'), 'unknown');
  assert.equal(view.apply('{"v":1,"id":1,"type":"brand_new_type","data":{}}'), 'stale');
  assert.equal(view.apply('{"v":1,"id":2,"type":"turn_started","data":{}}'), 'invalid');
  assert.throws(() => view.applyBatch('not an array'), TypeError);
  assert.equal(view.applyBatch([]), 0);
  assert.equal(view.lastEventId, 2);
  const counters = view.state().counters;
  assert.equal(counters.malformedFrames, 3);
  assert.equal(counters.unknownTypes, 1);
  assert.equal(counters.staleFrames, 1);
  assert.equal(counters.invalidPayloads, 1);
});
