// @switchyard/sdk/init: explicit initialization from a URL you choose, for
// hosts that serve the `.wasm` from somewhere other than next to the JS
// (VS Code webviews: `webview.asWebviewUri(...)`). Needs a CSP with
// `script-src 'self' 'wasm-unsafe-eval'` and `connect-src` for the daemon and
// for the `.wasm` URL. See README.md.
import wasmInit from './dist/switchyard_sdk.js';
import { markReady, readyPromise } from './internal.js';

export { Client, Connection, SessionView, sdkVersion } from './dist/switchyard_sdk.js';
export { SwitchyardError } from './dist/errors.js';

/**
 * Fetches and instantiates the `.wasm` at `url` (a string or URL; a Request,
 * Response, BufferSource or WebAssembly.Module work too). Resolves when the
 * SDK is usable; calling it again after success is a no-op.
 */
export async function initFromUrl(url) {
  if (url === undefined || url === null || url === '') {
    throw new TypeError('initFromUrl needs the URL of switchyard_sdk_bg.wasm');
  }
  await wasmInit({ module_or_path: url });
  markReady();
}

export default initFromUrl;

/** Resolves when the module is initialized. */
export function ready() {
  return readyPromise;
}
