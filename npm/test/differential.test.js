// Differential test: the SDK's reducer in Node against the native core on
// 10,000 generated frame sequences, byte for byte.
//
// The sequences come from tests/src/bin/differential-gen.rs: core's testgen
// (`random_choices(seed, len, ALL_OPS)` + `frames_from_choices`, 1-200 frames:
// every event type, stream-control frames, stale duplicates, frames from the
// past, unknown types, invalid payloads), a quarter of them with text-level
// damage on top (non-frames, truncation, odd ids, reordering, mid-stream
// joins), each with the native stateJson. The SDK reduces each sequence
// from the JSON text (what Connection feeds it) and, for a fifth of the
// undamaged ones, from frame objects.
//
// On a difference the test fails with the sequence minimized (shortest
// failing prefix, then single frames dropped while it still fails), judged
// by a live native reducer (`differential-gen --reduce`). Since the two
// builds should agree, the minimizer itself is proven below against an
// injected fake "native" that disagrees on purpose.
//
// SWITCHYARD_DIFF_COUNT changes the number of sequences (default 10000);
// SWITCHYARD_DIFFGEN points at a prebuilt differential-gen.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { SessionView } from '../node.js';
import { firstDifference, minimize, mismatchReport } from './browser/minimize.js';
import { NativeReducer, nativeSequences, nativeVectorViews } from './browser/native.js';
import { chunk, frame } from './helpers.js';

const COUNT = Number(process.env.SWITCHYARD_DIFF_COUNT ?? 10_000);
/** Mismatches minimized in a failure report (each costs a few hundred reductions). */
const MINIMIZED_IN_REPORT = 3;

/** The frame types testgen's ALL_OPS produce; the corpus must contain each. */
const EXPECTED_TYPES = [
  'session_started', 'session_update', 'prompt_queued', 'turn_started', 'turn_complete', 'turn_error',
  'prompt_cancelled', 'permission_request', 'permission_resolved', 'permission_already_resolved',
  'model_switched', 'model_switch_failed', 'approval_mode_changed', 'client_joined', 'client_left',
  'owner_changed', 'terminal_output', 'terminal_resized', 'terminal_exited', 'scrollback_cleared',
  'session_died', 'session_closed', 'future_event', 'state_resync_required', 'session_snapshot',
  'replay_complete', 'slow_client_warning', 'client_evicted', 'stream_error',
];
const OUTCOMES = ['applied', 'unknown', 'stale', 'gated', 'invalid', 'malformed'];

/** The SDK's stateJson after reducing `frames` (texts or objects) from an empty view. */
function sdkState(frames) {
  const view = new SessionView();
  try {
    view.applyBatch(frames);
    return view.stateJson();
  } finally {
    view.free();
  }
}

const asObjects = (texts) => texts.map((t) => JSON.parse(t));

/**
 * Minimizes one disagreement and describes it. `nativeState(texts)` is the
 * oracle (the live native reducer, or a fake in the minimizer's own tests);
 * `viaObjects` compares the SDK's object path instead of its text path.
 */
async function explainMismatch({ seed, texts, nativeState, viaObjects = false }) {
  const sdk = (t) => sdkState(viaObjects ? asObjects(t) : t);
  const fails = async (t) => sdk(t) !== (await nativeState(t));
  const { frames, evaluations } = await minimize(texts, fails);
  return {
    frames,
    report: mismatchReport({
      what: viaObjects ? 'object path' : 'text path',
      seed,
      originalLength: texts.length,
      frames,
      evaluations,
      sdkState: sdk(frames),
      nativeState: await nativeState(frames),
    }),
  };
}

test(`differential: ${COUNT} generated sequences reduce byte-identically in Node and natively`, async (t) => {
  const started = performance.now();
  const outcomes = Object.fromEntries(OUTCOMES.map((o) => [o, 0]));
  const types = new Map();
  const mismatches = [];
  const samples = [];
  let sequences = 0;
  let frames = 0;
  let mutated = 0;
  let viaObjects = 0;

  for await (const seq of nativeSequences({ count: COUNT })) {
    sequences += 1;
    frames += seq.frames.length;
    if (seq.mutated) mutated += 1;

    // Frame by frame (not applyBatch) to tally outcomes: proof that the
    // corpus reaches every branch of the reducer's entry point.
    const view = new SessionView();
    for (const text of seq.frames) {
      outcomes[view.apply(text)] += 1;
      const type = /^\{"v":1,(?:"id":\d+,)?"type":"([a-z_]+)"/.exec(text)?.[1];
      if (type) types.set(type, (types.get(type) ?? 0) + 1);
    }
    const state = view.stateJson();
    view.free();
    if (state !== seq.state) {
      mismatches.push({ seq, viaObjects: false });
      continue;
    }
    // JSON.parse + JSON.stringify is not the identity on damaged text
    // (`1e3`, ids past 2^53), so objects only for undamaged sequences.
    if (!seq.mutated && seq.seed % 5 === 0) {
      viaObjects += 1;
      if (sdkState(asObjects(seq.frames)) !== seq.state) mismatches.push({ seq, viaObjects: true });
    }
    if (samples.length < 2 && seq.frames.length > 50 && (samples.length === 0 || seq.mutated)) samples.push(seq);
  }

  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  t.diagnostic(
    `${sequences} sequences (${mutated} with text-level damage), ${frames} frames, ` +
      `${viaObjects} also via objects, ${seconds} s; outcomes ${JSON.stringify(outcomes)}`,
  );
  assert.equal(sequences, COUNT, 'the generator delivered every sequence');

  const native = new NativeReducer();
  try {
    // The oracle the minimizer would use agrees with the generator's states.
    for (const seq of samples) assert.equal(await native.state(seq.frames), seq.state, `--reduce on seed ${seq.seed}`);

    if (mismatches.length > 0) {
      // The shortest failing sequences minimize fastest; the report leads
      // with the shortest result.
      const shortest = [...mismatches].sort((a, b) => a.seq.frames.length - b.seq.frames.length);
      const explained = [];
      for (const { seq, viaObjects: objects } of shortest.slice(0, MINIMIZED_IN_REPORT)) {
        const nativeState = (texts) => native.state(texts);
        explained.push(await explainMismatch({ seed: seq.seed, texts: seq.frames, nativeState, viaObjects: objects }));
      }
      const reports = explained.sort((a, b) => a.frames.length - b.frames.length).map((e) => e.report);
      const seeds = mismatches.map((m) => m.seq.seed + (m.viaObjects ? ' (objects)' : ''));
      assert.fail(
        `${mismatches.length} of ${sequences} sequences reduce differently in the SDK and natively ` +
          `(seeds ${seeds.slice(0, 50).join(', ')}${seeds.length > 50 ? ', …' : ''}).\n\n${reports.join('\n\n')}`,
      );
    }
  } finally {
    native.close();
  }

  if (COUNT >= 1000) {
    for (const o of OUTCOMES) assert.ok(outcomes[o] > 0, `no frame had outcome ${o}`);
    for (const type of EXPECTED_TYPES) assert.ok(types.has(type), `no ${type} frame in the corpus`);
  }
});

// vectors.test.js compares the vectors byte for byte only when NATIVE_VIEWS
// is set; here the native bytes come from the oracle, always.
test('differential: every conformance vector reduces byte-identically in Node and natively', () => {
  const native = nativeVectorViews();
  const dir = new URL('../../tests/vectors/', import.meta.url);
  const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
  assert.equal(native.size, files.length, 'a native view for every vector');
  const differ = [];
  for (const file of files) {
    const { frames } = JSON.parse(readFileSync(new URL(file, dir), 'utf8'));
    const texts = frames.map((f) => (typeof f === 'string' ? f : JSON.stringify(f)));
    for (const [path, state] of [
      ['text', sdkState(texts)],
      ['objects', sdkState(frames)],
    ]) {
      const diff = firstDifference(state, native.get(file));
      if (diff) differ.push(`${file} (${path}): byte ${diff.offset}\n  sdk:    ${diff.a}\n  native: ${diff.b}`);
    }
  }
  assert.deepEqual(differ, [], `${differ.length} vector path(s) differ in Node:\n${differ.join('\n')}`);
});

// ---------------------------------------------------------------------------
// The minimizer, against fake natives that disagree on purpose.

/** A plausible stream: a session, a few turns of chunks and tool calls. */
function sampleStream() {
  const texts = [JSON.stringify(frame('session_started', { kind: 'agent', agent: 'demo', cwd: '/w' }, 1))];
  let id = 2;
  for (let turn = 1; turn <= 8; turn++) {
    texts.push(JSON.stringify(frame('prompt_queued', { promptId: `p${turn}`, position: 0 }, id++)));
    texts.push(JSON.stringify(frame('turn_started', { promptId: `p${turn}` }, id++)));
    for (let c = 0; c < 10; c++) texts.push(JSON.stringify(chunk(`t${turn}c${c} `, id++, `p${turn}`)));
    const update = (sessionUpdate, extra) => {
      const data = { update: { sessionUpdate, toolCallId: `tc${turn}`, ...extra } };
      return JSON.stringify({ ...frame('session_update', data, id++), promptId: `p${turn}` });
    };
    texts.push(update('tool_call', { title: `call ${turn}`, kind: 'edit', status: 'pending' }));
    texts.push(update('tool_call_update', { status: 'completed' }));
    texts.push(JSON.stringify(frame('turn_complete', { promptId: `p${turn}`, stopReason: 'end_turn' }, id++)));
  }
  return texts;
}

test('minimizer: a fake native that mishandles one frame → exactly that frame', async () => {
  const texts = sampleStream();
  const culprit = texts.findIndex((t) => t.includes('"toolCallId":"tc5"') && t.includes('"tool_call"'));
  assert.ok(culprit > 0);
  // A "native" reducer that loses the view whenever that frame is present.
  const nativeState = (t) => (t.includes(texts[culprit]) ? '{}' : sdkState(t));

  const { frames, report } = await explainMismatch({ seed: 'fake-1', texts, nativeState });
  assert.deepEqual(frames, [texts[culprit]]);
  assert.ok(report.includes(`Minimized from ${texts.length} to 1 frame(s)`), report);
  assert.ok(report.includes(texts[culprit]), 'the report prints the frame');
  assert.match(report, /States part at byte 1:/);
});

test('minimizer: an order-dependent pair → exactly the pair, in order', async () => {
  const texts = sampleStream();
  // Disagrees when turn 3's tool call is announced and, later, turn 6's
  // completion arrives; decoys: the same frames in the other order.
  const a = texts.find((t) => t.includes('"toolCallId":"tc3"') && t.includes('"tool_call"'));
  const b = texts.find((t) => t.includes('"toolCallId":"tc6"') && t.includes('completed'));
  const stream = [b, ...texts, a];
  const nativeState = (t) => {
    const i = t.indexOf(a);
    return i >= 0 && t.indexOf(b, i + 1) > i ? sdkState(t).replace('"lastEventId":', '"lastEventId":-') : sdkState(t);
  };
  const { frames } = await explainMismatch({ seed: 'fake-2', texts: stream, nativeState });
  assert.deepEqual(frames, [a, b]);
});

test('minimizer: the object path is minimized through objects', async () => {
  const texts = sampleStream();
  const culprit = texts[40];
  let calls = 0;
  const nativeState = (t) => {
    calls += 1;
    return t.includes(culprit) ? sdkState(t) + ' ' : sdkState(t);
  };
  const { frames, report } = await explainMismatch({ seed: 'fake-3', texts, nativeState, viaObjects: true });
  assert.deepEqual(frames, [culprit]);
  assert.match(report, /^object path: /);
  assert.ok(calls > 40, 'the prefix scan asked the oracle once per prefix');
});

test('minimizer: refuses a sequence that does not fail', async () => {
  await assert.rejects(minimize(['a', 'b'], () => false), /does not fail/);
});
