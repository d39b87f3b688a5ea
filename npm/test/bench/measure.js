// Throughput of the SDK's SessionView on a frame stream, shared by the Node
// bench (sdk-bench.mjs) and the Chromium harness (../browser/harness.js), so
// both environments run exactly the same loops.

/** Median, best and frames/s of a list of wall times for `frames` frames. */
export function summarize(ms, frames) {
  const sorted = [...ms].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  return {
    runs: ms.length,
    medianMs: median,
    bestMs: sorted[0],
    worstMs: sorted[sorted.length - 1],
    framesPerSec: frames / (median / 1000),
    bestFramesPerSec: frames / (sorted[0] / 1000),
  };
}

/**
 * Reduces `texts` (frame JSON texts) into a fresh view per run, `warmup`
 * untimed runs first (V8 compiles wasm with its baseline tier, then tiers
 * up hot functions: the first pass is slower and not what a long-lived page
 * sees). Every case includes the JS↔wasm crossing of each frame.
 */
export function measureThroughput(SessionView, texts, { iterations = 5, warmup = 1 } = {}) {
  const objects = texts.map((t) => JSON.parse(t));
  const cases = {
    'applyBatch(strings)': (view) => view.applyBatch(texts),
    'applyBatch(objects)': (view) => view.applyBatch(objects),
    'apply(string) per frame': (view) => {
      for (const t of texts) view.apply(t);
    },
    'apply(object) per frame': (view) => {
      for (const o of objects) view.apply(o);
    },
  };
  const results = {};
  let reference;
  for (const [name, run] of Object.entries(cases)) {
    const ms = [];
    for (let i = 0; i < warmup + iterations; i++) {
      const view = new SessionView();
      const start = performance.now();
      run(view);
      const elapsed = performance.now() - start;
      // Every path must end in the same view, or the figures compare
      // different work.
      const json = view.stateJson();
      reference ??= json;
      if (json !== reference) throw new Error(`${name} reduced to a different view`);
      view.free();
      if (i >= warmup) ms.push(elapsed);
    }
    results[name] = summarize(ms, texts.length);
  }

  // Reading the view of the whole stream back out.
  const view = new SessionView();
  view.applyBatch(texts);
  const time = (f) => {
    const ms = [];
    for (let i = 0; i < warmup + iterations; i++) {
      const start = performance.now();
      f();
      if (i >= warmup) ms.push(performance.now() - start);
    }
    return summarize(ms, 1);
  };
  results['state() of the final view'] = time(() => view.state());
  results['stateJson() of the final view'] = time(() => view.stateJson());
  const viewBytes = view.stateJson().length;
  view.free();
  return { frames: texts.length, viewBytes, results };
}
