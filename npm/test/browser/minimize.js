// Test-case minimization for the differential tests: when the SDK and the
// native reducer disagree on a frame sequence, find a short sequence that
// still shows the disagreement, so the report is something a human can read.

/**
 * Delta debugging in two passes:
 *
 * 1. the shortest failing prefix, scanned from length 1 up (failure is not
 *    monotone in the prefix length: a later snapshot can heal a divergence,
 *    so a binary search could miss the shortest);
 * 2. greedy single-frame removal, repeated until no single frame can be
 *    dropped without the failure going away (1-minimal).
 *
 * `fails(frames)` (may be async) says whether a candidate still shows the
 * difference; it must hold for `frames` itself. Returns the minimized frames
 * and how many candidates were evaluated.
 */
export async function minimize(frames, fails) {
  let evaluations = 0;
  const check = async (candidate) => {
    evaluations += 1;
    return Boolean(await fails(candidate));
  };
  if (!(await check(frames))) throw new Error('minimize: the sequence to minimize does not fail');

  let current = frames;
  for (let k = 1; k < frames.length; k++) {
    const prefix = frames.slice(0, k);
    if (await check(prefix)) {
      current = prefix;
      break;
    }
  }

  for (let changed = true; changed; ) {
    changed = false;
    for (let i = 0; i < current.length; ) {
      const candidate = current.slice(0, i).concat(current.slice(i + 1));
      if (await check(candidate)) {
        current = candidate;
        changed = true;
      } else {
        i += 1;
      }
    }
  }
  return { frames: current, evaluations };
}

/** Where two strings first differ, with some context on both sides. */
export function firstDifference(a, b, context = 120) {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i += 1;
  if (i === a.length && i === b.length) return null;
  const from = Math.max(0, i - context);
  return {
    offset: i,
    a: (from > 0 ? '…' : '') + a.slice(from, i + context),
    b: (from > 0 ? '…' : '') + b.slice(from, i + context),
  };
}

/**
 * A failure report for one disagreement: the minimized frames (JSON text,
 * one per line, ready to paste into a vector or `differential-gen --reduce`)
 * and where the two states part.
 */
export function mismatchReport({ what, seed, originalLength, frames, evaluations, sdkState, nativeState }) {
  const diff = firstDifference(sdkState, nativeState);
  return [
    `${what}: the SDK and the native reducer disagree on seed ${seed}.`,
    `Minimized from ${originalLength} to ${frames.length} frame(s) (${evaluations} candidates tried):`,
    ...frames.map((f, i) => `  [${i}] ${f}`),
    `As one --reduce line: ${JSON.stringify(frames)}`,
    diff
      ? `States part at byte ${diff.offset}:\n  sdk:    ${diff.a}\n  native: ${diff.b}`
      : 'States are equal (flaky?)',
  ].join('\n');
}
