// The browser driver page: the package's default (browser) entry, `init()`
// loading the .wasm from next to the JS, and the driver as `window.e2e`.
import init, * as sdk from '../../../index.js';
import { createDriver } from './driver.js';

try {
  await init();
  window.e2e = createDriver(sdk);
} catch (e) {
  window.e2eError = String(e?.stack ?? e);
}
