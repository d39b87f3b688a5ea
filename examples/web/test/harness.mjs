// Browser end-to-end harness: a real daemon (`switchyard serve --web-dir
// dist`) on 127.0.0.1:0, Debian's Chromium through playwright-core, one
// browser context per person, and screenshots of every step in
// target/web-artifacts/ (override: $SWITCHYARD_WEB_ARTIFACTS).
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { daemonBin, startDaemon as startE2eDaemon } from '../../../npm/test/e2e/daemon.js';
import { CHROMIUM_ARGS, chromiumPath } from '../../../npm/test/browser/server.js';

export { CHROMIUM_ARGS, chromiumPath, daemonBin };

export const TOKEN = 'web-e2e-token';
const here = fileURLToPath(new URL('.', import.meta.url));
export const repo = join(here, '../../..');
export const distDir = join(here, '../dist');
export const artifacts = process.env.SWITCHYARD_WEB_ARTIFACTS || join(repo, 'target/web-artifacts');

/** Why the suite cannot run here, or null. The test command requires it to run. */
export function missing() {
  if (!existsSync(join(distDir, 'index.html'))) return `no built client in ${distDir} (npm run build)`;
  if (!daemonBin) return 'no daemon (cargo build -p switchyard-server, or set SWITCHYARD_BIN)';
  if (!existsSync(chromiumPath)) return `no Chromium at ${chromiumPath} (apt-get install chromium)`;
  return null;
}

/**
 * Starts the daemon with the built client (the SDK suite's starter, with
 * `--web-dir`). `workspace` is its working directory, which sessions
 * default to. Returns { url, openUrl, workspace, stop, log }.
 */
export async function startDaemon() {
  const d = await startE2eDaemon({ token: TOKEN, args: ['--web-dir', distDir] });
  return { ...d, workspace: d.defaultWorkspace };
}

/** Calls the daemon's API from Node (for probes and checks, not for the scenarios). */
export async function api(daemon, method, path, { clientId, body } = {}) {
  const headers = { authorization: `Bearer ${TOKEN}` };
  if (clientId) headers['x-client-id'] = clientId;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const r = await fetch(daemon.url + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    // Not JSON: a route this daemon does not have answers an empty 404.
  }
  return { status: r.status, json, text };
}

/**
 * Whether the daemon has `POST <path>` at all: a route that exists answers
 * a bogus session with the daemon's JSON error; a missing one with an empty 404.
 */
export async function hasRoute(daemon, path) {
  const r = await api(daemon, 'POST', path.replace('{id}', 's_probe_does_not_exist'), { body: {} });
  return r.json !== null && typeof r.json.error === 'object';
}

/** A test that needs a route this branch may not have: skip (or fail when required). */
export function skipUnless(t, ok, what) {
  if (ok) return false;
  const msg = `skipped: this daemon lacks ${what}`;
  if (process.env.SWITCHYARD_WEB_REQUIRE_ALL === '1') throw new Error(`${msg} (SWITCHYARD_WEB_REQUIRE_ALL=1)`);
  t.diagnostic(msg);
  t.skip(msg);
  return true;
}

/** Saves a screenshot as <artifacts>/<name>.png. */
export async function shot(page, name) {
  mkdirSync(artifacts, { recursive: true });
  await page.screenshot({ path: join(artifacts, `${name}.png`) });
}

/**
 * Opens the app in a new context of `browser` (one person), via the URL the
 * daemon printed. Collects page errors, console errors and CSP violations.
 */
export async function openApp(browser, daemon, { width = 1280, height = 800, name } = {}) {
  const context = await browser.newContext({ viewport: { width, height } });
  if (name) {
    await context.addInitScript((n) => localStorage.setItem('switchyard.name', n), name);
  }
  await context.addInitScript(() => {
    window.__csp = [];
    document.addEventListener('securitypolicyviolation', (e) =>
      window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`),
    );
  });
  const page = await context.newPage();
  const problems = { pageErrors: [], console: [] };
  page.on('pageerror', (e) => problems.pageErrors.push(String(e)));
  page.on('console', (m) => m.type() === 'error' && problems.console.push(m.text()));
  await page.goto(daemon.openUrl);
  await page.waitForSelector('header.top .status');
  return { context, page, problems };
}

/** Creates an agent session from the form; resolves to { sessionId, clientId } once live. */
export async function newAgentSession(page) {
  await page.getByRole('button', { name: 'New agent session' }).click();
  return waitLive(page);
}

/** Waits for the open session's stream to be live; returns its ids. */
export async function waitLive(page, sessionId) {
  const sel = sessionId ? `section.session[data-session-id="${sessionId}"][data-status="live"]` : 'section.session[data-status="live"]';
  const el = await page.waitForSelector(sel);
  return { sessionId: await el.getAttribute('data-session-id'), clientId: await el.getAttribute('data-client-id') };
}

/** Opens `sessionId` from the list as control ("Open") or observer ("Watch"). */
export async function openFromList(page, sessionId, role) {
  const li = page.locator(`li[data-session-id="${sessionId}"]`);
  await li.waitFor();
  await li.getByRole('button', { name: role === 'observer' ? /^Watch/ : /^Open/ }).click();
  return waitLive(page, sessionId);
}

/** Types a prompt and sends it with Enter. */
export async function sendPrompt(page, text) {
  const box = page.getByRole('combobox', { name: 'Prompt' });
  await box.fill(text);
  await box.press('Escape'); // close the / menu if it opened
  await box.press('Enter');
}

/** Waits until `n` turns ended and the transcript has been drawn up to the view. */
export async function waitTurns(page, n) {
  await page.waitForFunction(
    (n) => {
      const v = document.querySelector('.agent-view');
      const s = document.querySelector('section.session');
      return (
        v && s && Number(v.dataset.turnsEnded) >= n && v.dataset.renderedEventId === s.dataset.lastEventId
      );
    },
    n,
  );
}

/** The open session's status attribute. */
export function waitStatus(page, status) {
  return page.waitForSelector(`section.session[data-status="${status}"]`);
}

/** The visible text of the agent's messages. */
export function agentText(page) {
  return page.$$eval('.msg.agent .body', (els) => els.map((e) => e.innerText).join('\n'));
}

/** The terminal's rows as text (xterm's DOM renderer). */
export function terminalRows(page) {
  return page.$$eval('.xterm-rows > div', (rows) => rows.map((r) => r.textContent.replace(/\u00a0/g, ' ').trimEnd()));
}

/** Fails on page errors, console errors and CSP violations. */
export async function assertClean(assert, ...people) {
  for (const { page, problems } of people) {
    assert.deepEqual(problems.pageErrors, [], 'page errors');
    assert.deepEqual(await page.evaluate(() => window.__csp), [], 'CSP violations');
  }
}
