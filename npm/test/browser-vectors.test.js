// The SDK in real headless Chromium (playwright-core, /usr/bin/chromium)
// against the native core, byte for byte:
//
// - every conformance vector (tests/vectors/*.json), by three paths (frame
//   texts one by one, the vector's frame objects, one applyBatch);
// - the 10,000 differential sequences of differential.test.js, streamed
//   to the page and reduced and compared there, a mismatch minimized with the
//   page as the SDK side and `differential-gen --reduce` as the oracle.
//
// The page is test/browser/index.html on a static server on 127.0.0.1:0
// rooted at the package: it imports index.js and `await init()` loads
// dist/switchyard_sdk_bg.wasm over HTTP, as an app's page would. A missing
// Chromium fails the test; it never skips (scripts/test.sh installs it).
//
// SWITCHYARD_BROWSER_DIFF_COUNT changes the number of sequences (default
// 10000); SWITCHYARD_CHROMIUM points at another Chromium.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { firstDifference, minimize, mismatchReport } from './browser/minimize.js';
import { NativeReducer, nativeBin, nativeVectorViews, runNative, spawnSequences } from './browser/native.js';
import { launchChromium, openHarness, staticServer } from './browser/server.js';

const DIFF_COUNT = Number(process.env.SWITCHYARD_BROWSER_DIFF_COUNT ?? 10_000);
const SEQUENCES_URL = '/__data/sequences.jsonl';

const vectorsDir = new URL('../../tests/vectors/', import.meta.url);
const vectorFiles = readdirSync(vectorsDir)
  .filter((f) => f.endsWith('.json'))
  .sort();

let browser;
let server;
let page;

/** The last run of the generator behind SEQUENCES_URL. */
const generator = { code: null, stderr: '' };

/**
 * Streams the generator's output to the page while it runs, so generating
 * (native) and reducing (Chromium) share the two cores, and the comparison
 * happens in the page with no per-sequence round trips.
 */
function serveSequences(req, res) {
  const child = spawnSequences({ count: DIFF_COUNT });
  generator.code = null;
  child.stderr.on('data', (d) => (generator.stderr += d));
  child.on('close', (code) => (generator.code = code));
  res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
  child.stdout.pipe(res);
  res.on('close', () => child.exitCode === null && child.kill());
}

before(async () => {
  nativeBin(); // build it now, not inside a request
  server = await staticServer({ routes: { [SEQUENCES_URL]: serveSequences } });
  browser = await launchChromium();
  page = await openHarness(browser, server.url);
});

after(async () => {
  await browser?.close();
  await server?.close();
});

test('Chromium: every conformance vector reduces byte-identically to native', async (t) => {
  const native = nativeVectorViews();
  const vectors = vectorFiles.map((name) => {
    const { frames } = JSON.parse(readFileSync(new URL(name, vectorsDir), 'utf8'));
    // As the protocol's runners do (docs/protocol.md §8): objects are
    // serialized, strings (malformed frames) fed as they are.
    const texts = frames.map((f) => (typeof f === 'string' ? f : JSON.stringify(f)));
    return { name, texts, frames };
  });
  const results = await page.evaluate((v) => window.harness.vectors(v), vectors);

  const differ = [];
  for (const r of results) {
    const expected = native.get(r.name);
    if (expected === undefined) {
      differ.push(`${r.name}: no native view`);
      continue;
    }
    for (const path of ['text', 'objects', 'batch']) {
      const diff = firstDifference(r[path], expected);
      if (diff) differ.push(`${r.name} (${path}): byte ${diff.offset}\n  chromium: ${diff.a}\n  native:   ${diff.b}`);
    }
  }
  const { sdkVersion, userAgent } = await page.evaluate(() => ({
    sdkVersion: window.harness.sdkVersion,
    userAgent: window.harness.userAgent,
  }));
  t.diagnostic(`${results.length} vectors in ${browser.version()} (sdk ${sdkVersion}; ${userAgent})`);
  assert.equal(results.length, vectorFiles.length);
  assert.equal(native.size, vectorFiles.length, 'a native view for every vector');
  assert.deepEqual(differ, [], `${differ.length} vector path(s) differ in Chromium:\n${differ.join('\n')}`);
  assert.deepEqual(page.errors, [], 'no errors in the page');
});

test(`Chromium: ${DIFF_COUNT} differential sequences reduce byte-identically to native`, async (t) => {
  const r = await page.evaluate((url) => window.harness.differential(url), SEQUENCES_URL);
  const seconds = (r.ms / 1000).toFixed(1);
  t.diagnostic(`${r.sequences} sequences, ${r.frames} frames, reduced and compared in the page in ${seconds} s`);
  const why = `generator exit ${generator.code} ${generator.stderr}`;
  assert.equal(r.sequences, DIFF_COUNT, `the generator delivered every sequence (${why})`);
  if (r.mismatches.length === 0) return;

  // Minimize the first mismatch: the page is the SDK side.
  const seed = r.mismatches[0];
  const seq = runNative(['--count', '1', '--first-seed', String(seed)]);
  const { frames: texts } = JSON.parse(seq);
  const native = new NativeReducer();
  try {
    const sdkState = (f) => page.evaluate((x) => window.harness.stateOf(x), f);
    const fails = async (f) => (await sdkState(f)) !== (await native.state(f));
    const { frames, evaluations } = await minimize(texts, fails);
    const report = mismatchReport({
      what: 'Chromium',
      seed,
      originalLength: texts.length,
      frames,
      evaluations,
      sdkState: await sdkState(frames),
      nativeState: await native.state(frames),
    });
    const seeds = r.mismatches.slice(0, 50).join(', ');
    assert.fail(`${r.mismatches.length} of ${r.sequences} sequences differ in Chromium (seeds ${seeds}).\n\n${report}`);
  } finally {
    native.close();
  }
});
