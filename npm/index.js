// @switchyard/sdk: the browser / bundler entry. Call `await init()` once
// before using the classes; it loads `dist/switchyard_sdk_bg.wasm` from next
// to this file (bundlers such as Vite and webpack pick it up through
// `new URL(..., import.meta.url)`). Node resolves to ./node.js instead, which
// initializes at import time.
import wasmInit from './dist/switchyard_sdk.js';
import { markReady, readyPromise } from './internal.js';

export { Client, Connection, SessionView, sdkVersion } from './dist/switchyard_sdk.js';
export { SwitchyardError } from './dist/errors.js';

let pending;

/**
 * Loads and instantiates the WebAssembly module. Safe to call more than
 * once. `input` is optional: a URL, Request, Response, BufferSource or
 * WebAssembly.Module for the `.wasm` (default: next to this file).
 */
export function init(input) {
  if (pending === undefined) {
    pending = wasmInit(input === undefined ? undefined : { module_or_path: input }).then(() => {
      markReady();
    });
    // A failed attempt (network, CSP) may be retried.
    pending.catch(() => {
      pending = undefined;
    });
  }
  return pending;
}

export default init;

/** Resolves when the module is initialized (by `init()` or `initFromUrl()`). */
export function ready() {
  return readyPromise;
}
