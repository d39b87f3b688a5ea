// @switchyard/sdk/init — explicit initialization from a URL (VS Code
// webviews and other hosts that serve the .wasm from a URL of their own).

import type { InitInput } from './index.js';

export type * from './index.js';
export {
  Client,
  Connection,
  SessionView,
  SwitchyardError,
  ready,
  sdkVersion,
} from './index.js';

/**
 * Fetches and instantiates `switchyard_sdk_bg.wasm` from `url` (or takes a
 * Response, BufferSource or WebAssembly.Module). Resolves when the SDK is
 * usable; calling it again after success is a no-op.
 *
 * CSP: `script-src 'self' 'wasm-unsafe-eval'`, and `connect-src` for the
 * daemon and for `url`.
 */
export function initFromUrl(url: InitInput): Promise<void>;
export default initFromUrl;
