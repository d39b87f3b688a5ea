// End to end in headless Chromium against the real daemon: a page served
// from a static server on 127.0.0.1:0 (another origin than the daemon, which
// is started with --allow-origin for it) imports the package's browser
// entry and exposes test/e2e/pages/driver.js as `window.e2e`; the test
// drives it through page.evaluate. Scenarios 1-5 are shared with
// e2e-node.test.js (test/e2e/scenarios.js); 6 is the strict-CSP page.
// Every test starts and stops its own static server, daemon(s), proxy and
// Chromium (a fresh temporary profile). Skipped without a daemon binary
// (a failure with SWITCHYARD_REQUIRE_DAEMON=1) or without /usr/bin/chromium
// (override with $SWITCHYARD_CHROMIUM; a failure with SWITCHYARD_REQUIRE_BROWSER=1).
import { test } from 'node:test';
import { CHROMIUM_ARGS, chromiumPath } from './browser/server.js';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { skipWithoutDaemon, startDaemon, TOKEN } from './e2e/daemon.js';
import { withDeadline } from './e2e/deadline.js';
import { startStatic } from './e2e/static.js';
import * as scenarios from './e2e/scenarios.js';

const executablePath = chromiumPath;
if (!existsSync(executablePath) && process.env.SWITCHYARD_REQUIRE_BROWSER === '1') {
  throw new Error(`no Chromium at ${executablePath}: apt-get install -y chromium, or set SWITCHYARD_CHROMIUM`);
}
const skip = skipWithoutDaemon() || (!existsSync(executablePath) && `no Chromium at ${executablePath}`);
const DEADLINE_MS = 45000;

/**
 * Runs `body(ctx)` with a static server, a daemon allowing its origin and a
 * Chromium; stops them all at the end, even on failure. `headersFor` lets a
 * test add response headers to the pages (see static.js); `ctx.csp` is a
 * mutable slot it can read.
 */
function browserTest(name, body, headersFor) {
  test(`browser e2e: ${name}`, { skip, timeout: 60000 }, async () => {
    const cleanups = [];
    const defer = (fn) => cleanups.push(fn);
    const ctx = { defer };
    try {
      const site = await startStatic((path, query) => (headersFor ? headersFor(ctx, path, query) : {}));
      defer(site.close);
      const startOne = async (args = []) => {
        const daemon = await startDaemon({ args: ['--allow-origin', site.origin, ...args] });
        defer(daemon.stop);
        return daemon;
      };
      ctx.site = site;
      ctx.startDaemon = startOne;
      ctx.daemon = await startOne();
      const browser = await chromium.launch({ executablePath, headless: true, args: CHROMIUM_ARGS });
      defer(() => browser.close());
      ctx.browser = browser;
      /** Opens `path` in a new page and waits for `window.e2e`; returns { page, d, problems }. */
      ctx.open = async (path) => {
        const page = await browser.newPage();
        const problems = { console: [], pageErrors: [] };
        page.on('console', (m) => m.type() === 'error' && problems.console.push(m.text()));
        page.on('pageerror', (e) => problems.pageErrors.push(String(e)));
        await page.goto(`${site.origin}${path}`);
        await page.waitForFunction(() => window.e2e !== undefined || window.e2eError !== undefined, null, {
          timeout: 15000,
        });
        const d = (method, ...args) => page.evaluate(([m, a]) => window.e2e[m](...a), [method, args]);
        defer(() => page.evaluate(() => window.e2e?.closeAll()).catch(() => {}));
        return { page, d, problems, initError: await page.evaluate(() => window.e2eError) };
      };
      await withDeadline(body(ctx), DEADLINE_MS, name);
    } finally {
      for (const fn of cleanups.reverse()) {
        try {
          await fn();
        } catch (e) {
          console.error('cleanup failed:', e);
        }
      }
    }
  });
}

/** Scenarios 1-5 on the default page (the package's browser entry, `init()`). */
function e2e(name, scenario, { expectNetworkErrors = false } = {}) {
  browserTest(name, async (ctx) => {
    const { d, problems, initError } = await ctx.open('/test/e2e/pages/index.html');
    assert.equal(initError, undefined);
    await scenario({ d, daemon: ctx.daemon, startDaemon: ctx.startDaemon, defer: ctx.defer });
    assert.deepEqual(problems.pageErrors, []);
    // A reset stream is logged by Chromium as a failed request; nothing else.
    const unexpected = problems.console.filter(
      (m) => !(expectNetworkErrors && /net::ERR_CONNECTION_RESET/.test(m)),
    );
    assert.deepEqual(unexpected, []);
  });
}

e2e('1. connect and stream an /echo turn (connecting → live)', scenarios.echoTurn);
e2e('2. vote on a permission (/write)', scenarios.permissionVote);
e2e('3. TCP reset mid-/flood 3000: gapless resume with Last-Event-ID', scenarios.resumeAfterDrop, {
  expectNetworkErrors: true,
});
e2e('4. resume past a 64-frame ring: resync + snapshot in band', scenarios.resumePastRing, {
  expectNetworkErrors: true,
});
e2e('5. epoch_reset: a resume point from the future', scenarios.epochReset);

// 6. A strict-CSP page (what a VS Code webview imposes): the explicit-init
// entry, initFromUrl(<wasm url>), one streamed turn, no CSP violation.
// `?csp=` picks a variant: the policy minus one source, to show each one is
// needed (and that violations are detected at all).
function cspFor(ctx, path, query) {
  if (!path.endsWith('/csp.html')) return {};
  const daemon = ctx.daemon.url;
  const policies = {
    strict: `default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; connect-src ${daemon} 'self'`,
    noself: `default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; connect-src ${daemon}`,
    nowasm: `default-src 'none'; script-src 'self'; connect-src ${daemon} 'self'`,
  };
  return { 'content-security-policy': policies[query.get('csp') ?? 'strict'] };
}

browserTest(
  '6. strict CSP: @switchyard/sdk/init + initFromUrl, a streamed turn, no violation',
  async (ctx) => {
    const { page, d, problems, initError } = await ctx.open('/test/e2e/pages/csp.html');
    assert.equal(initError, undefined);
    const s = await d('newClient', 'ctl', { baseUrl: ctx.daemon.url, token: TOKEN }).then(() =>
      d('createSession', 'ctl', { cwd: ctx.daemon.workspace() }),
    );
    await d('connect', 'a', { baseUrl: ctx.daemon.url, token: TOKEN, sessionId: s.sessionId, clientId: s.clientId });
    await d('wait', 'a', 'status', 'live');
    await d('prompt', 'ctl', s.sessionId, '/echo hello csp');
    await d('wait', 'a', 'turnsEnded', 1);
    const info = await d('info', 'a');
    assert.equal(info.agentText, 'hello csp');
    assert.deepEqual(
      info.statuses.map((x) => x.status),
      ['connecting', 'live'],
    );
    await scenarios.assertCleanClose({ d }, 'a');
    assert.deepEqual(await page.evaluate(() => window.cspViolations), []);
    assert.deepEqual(problems.console, []);
    assert.deepEqual(problems.pageErrors, []);
    const policy = (await page.evaluate(() => fetch(location.href).then((r) => r.headers.get('content-security-policy'))));
    assert.match(policy, /^default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; connect-src http:\/\/127\.0\.0\.1:\d+ 'self'$/);

    // Without 'self' in connect-src the .wasm fetch itself is refused.
    const noself = await ctx.open('/test/e2e/pages/csp.html?csp=noself');
    assert.match(noself.initError ?? '', /fetch|Content Security Policy/i);
    const v1 = await noself.page.evaluate(() => window.cspViolations);
    assert.ok(
      v1.some((v) => v.effectiveDirective === 'connect-src' && v.blockedURI.endsWith('/dist/switchyard_sdk_bg.wasm')),
      JSON.stringify(v1),
    );
    // Without 'wasm-unsafe-eval' WebAssembly does not compile.
    const nowasm = await ctx.open('/test/e2e/pages/csp.html?csp=nowasm');
    assert.match(nowasm.initError ?? '', /WebAssembly|wasm/i);
    const v2 = await nowasm.page.evaluate(() => window.cspViolations);
    assert.ok(v2.some((v) => v.effectiveDirective === 'script-src' && v.blockedURI === 'wasm-eval'), JSON.stringify(v2));
  },
  cspFor,
);
