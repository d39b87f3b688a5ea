// A failure deadline: a scenario that hangs is failed (and its cleanup runs)
// instead of being left to the test runner's timeout, which would skip the
// `finally` that stops the daemon and the browser.

/** Resolves as `promise` does, or rejects after `ms`. */
export function withDeadline(promise, ms, what) {
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result after ${ms} ms`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}
