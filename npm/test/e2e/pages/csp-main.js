// The strict-CSP page: the explicit-init entry (`@switchyard/sdk/init`),
// `initFromUrl(<wasm url>)`, then the driver as `window.e2e`. The .wasm URL
// comes from `?wasm=` (default: the package's dist/).
import * as sdk from '../../../init.js';
import { createDriver } from './driver.js';

const wasm =
  new URLSearchParams(location.search).get('wasm') ??
  new URL('../../../dist/switchyard_sdk_bg.wasm', import.meta.url).href;
try {
  await sdk.initFromUrl(wasm);
  window.e2e = createDriver(sdk);
} catch (e) {
  window.e2eError = String(e?.stack ?? e);
}
