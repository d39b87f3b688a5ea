// Runs in Chromium (index.html): loads the package's browser entry the way
// an app does — `index.js`, `await init()`, which fetches and instantiates
// dist/switchyard_sdk_bg.wasm — then exposes `window.harness` to the Node
// side (browser-vectors.test.js, bench/sdk-bench.mjs).
import { measureThroughput } from '../bench/measure.js';

const FIRST_FRAME = '{"v":1,"id":1,"type":"session_started","data":{"kind":"agent","agent":"demo","cwd":"/w"}}';

try {
  // Time to first state: from the import of the package to the first
  // state() returned, wasm fetch + compile + instantiation included.
  const importStart = performance.now();
  const sdk = await import('../../index.js');
  await sdk.default();
  const initDone = performance.now();
  const probe = new sdk.SessionView();
  probe.apply(FIRST_FRAME);
  probe.state();
  const firstState = performance.now();
  probe.free();
  // Where the wasm's download sat in that time (Resource Timing).
  const wasm = performance.getEntriesByType('resource').find((e) => e.name.endsWith('.wasm'));

  const { SessionView } = sdk;

  /** stateJson after reducing `frames`, one `apply` each or one `applyBatch`. */
  const reduce = (frames, batch = false) => {
    const view = new SessionView();
    try {
      if (batch) view.applyBatch(frames);
      else for (const f of frames) view.apply(f);
      return view.stateJson();
    } finally {
      view.free();
    }
  };

  /** The lines of the response at `url`, as they arrive. */
  async function* fetchLines(url) {
    const response = await fetch(url);
    if (!response.ok) throw new Error(`GET ${url}: ${response.status}`);
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let rest = '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      const parts = (rest + value).split('\n');
      rest = parts.pop();
      yield* parts.filter(Boolean);
    }
    if (rest) yield rest;
  }

  window.harness = {
    sdkVersion: sdk.sdkVersion(),
    userAgent: navigator.userAgent,
    timings: {
      // All in ms; navigation start is performance.now()'s origin.
      importToInitMs: initDone - importStart,
      importToFirstStateMs: firstState - importStart,
      navigationToFirstStateMs: firstState,
      importToWasmRequestMs: wasm ? wasm.startTime - importStart : null,
      wasmDownloadMs: wasm ? wasm.responseEnd - wasm.startTime : null,
    },

    /** stateJson of one sequence of frame texts (the minimizer's SDK side). */
    stateOf: (texts) => reduce(texts),

    /**
     * Conformance vectors `{name, texts, frames}` → their stateJson by three
     * paths: texts one by one, the vector's frames (objects, or strings for
     * malformed ones) one by one, and the texts as one batch.
     */
    vectors: (vectors) =>
      vectors.map(({ name, texts, frames }) => ({
        name,
        text: reduce(texts),
        objects: reduce(frames),
        batch: reduce(texts, true),
      })),

    /**
     * Differential sequences (differential-gen's JSON lines) streamed from
     * `url` while the generator writes them: each reduced here and compared
     * with its native state here, so only the verdicts cross back.
     */
    async differential(url) {
      const start = performance.now();
      let sequences = 0;
      let frames = 0;
      const mismatches = [];
      for await (const line of fetchLines(url)) {
        const seq = JSON.parse(line);
        sequences += 1;
        frames += seq.frames.length;
        if (reduce(seq.frames, true) !== seq.state) mismatches.push(seq.seed);
      }
      return { sequences, frames, mismatches, ms: performance.now() - start };
    },

    /** measureThroughput on the frame text lines at `url`. */
    async bench(url, options) {
      const texts = [];
      for await (const line of fetchLines(url)) texts.push(line);
      return measureThroughput(SessionView, texts, options);
    },
  };
} catch (e) {
  window.harnessError = String(e && e.stack ? e.stack : e);
}
