// Node side of the browser harness: a static file server on 127.0.0.1:0
// rooted at the npm package (so the page imports `index.js` and
// `dist/*.wasm` exactly as a browser app would), and headless Chromium
// through playwright-core. Used by browser-vectors.test.js and
// bench/sdk-bench.mjs.
import { createServer } from 'node:http';
import { createReadStream, existsSync, statSync } from 'node:fs';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The npm package directory (served as `/`). */
export const packageRoot = fileURLToPath(new URL('../../', import.meta.url));

/** The harness page, relative to the server's root. */
export const HARNESS_PATH = '/test/browser/index.html';

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  // application/wasm lets the glue use instantiateStreaming, as in production.
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.jsonl': 'text/plain; charset=utf-8',
};

/**
 * Serves `packageRoot` read-only, plus `routes` (URL path → `(req, res)`
 * handler) for data the page fetches. Returns `{ url, close }`.
 */
export async function staticServer({ routes = {} } = {}) {
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    if (Object.hasOwn(routes, path)) {
      routes[path](req, res);
      return;
    }
    const file = normalize(join(packageRoot, path));
    // Nothing outside the package, and no node_modules (the page must not
    // lean on anything an installed package would not have).
    const servable = file.startsWith(packageRoot) && !file.includes(`${sep}node_modules${sep}`);
    if (req.method !== 'GET' || !servable || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, {
      'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
      'cache-control': 'no-store',
    });
    createReadStream(file).pipe(res);
  });
  const sockets = new Set();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(resolve);
      }),
  };
}

/** Chromium to drive: $SWITCHYARD_CHROMIUM, else Debian's. */
export const chromiumPath = process.env.SWITCHYARD_CHROMIUM || '/usr/bin/chromium';

// The flags these machines need (docs: /work/shared/TOOLCHAIN.md): no
// sandbox as root, no GPU, and nothing that reaches for the network.
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * Launches headless Chromium. Throws (never skips) when Chromium or
 * playwright-core is missing: the test command installs both.
 */
export async function launchChromium() {
  if (!existsSync(chromiumPath)) {
    throw new Error(
      `Chromium not found at ${chromiumPath}: install it (apt-get install -y chromium) ` +
        'or point SWITCHYARD_CHROMIUM at a Chromium binary. The browser tests do not skip.',
    );
  }
  let chromium;
  try {
    ({ chromium } = await import('playwright-core'));
  } catch (e) {
    throw new Error(`playwright-core is not installed (run npm ci in npm/): ${e.message}`);
  }
  return chromium.launch({ executablePath: chromiumPath, headless: true, args: CHROMIUM_ARGS });
}

/**
 * Opens the harness page in `context` (a fresh one per call when given a
 * browser) and waits until the SDK is initialized there. Page errors fail
 * the wait with their message instead of a timeout.
 */
export async function openHarness(contextOrBrowser, baseUrl, { timeoutMs = 30_000 } = {}) {
  const page = await contextOrBrowser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  await page.goto(baseUrl + HARNESS_PATH);
  await page
    .waitForFunction(() => window.harness || window.harnessError, null, { timeout: timeoutMs })
    .catch((e) => {
      throw new Error(`harness did not load: ${errors.join('; ') || e.message}`);
    });
  const failed = await page.evaluate(() => window.harnessError);
  if (failed) throw new Error(`harness failed in Chromium: ${failed}`);
  page.errors = errors;
  return page;
}
