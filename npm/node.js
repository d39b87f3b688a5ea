// @switchyard/sdk for Node (>= 20): the same `--target web` build, with the
// `.wasm` read from disk and instantiated synchronously at import time, so
// no init call is needed. `init()` and `ready()` exist (and resolve at once)
// so code written for browsers runs unchanged.
import { readFileSync } from 'node:fs';
import { initSync } from './dist/switchyard_sdk.js';
import { markReady, readyPromise } from './internal.js';

initSync({ module: readFileSync(new URL('./dist/switchyard_sdk_bg.wasm', import.meta.url)) });
markReady();

export { Client, Connection, SessionView, sdkVersion } from './dist/switchyard_sdk.js';
export { SwitchyardError } from './dist/errors.js';

/** Already initialized at import time; resolves at once. */
export function init() {
  return readyPromise;
}

export default init;

/** Resolves at once: the module was initialized at import time. */
export function ready() {
  return readyPromise;
}
