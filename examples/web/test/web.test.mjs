// The web client in real Chromium against the real daemon. Each scenario
// starts its own daemon (serving the built client with --web-dir) and
// browser, with one context per person, and saves a screenshot of each
// step in target/web-artifacts/. Scenarios that need routes a daemon may
// lack (model/approval mode, terminals) skip with the reason; with
// SWITCHYARD_WEB_REQUIRE_ALL=1 they fail instead.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { chromium } from 'playwright-core';
import {
  CHROMIUM_ARGS,
  TOKEN,
  agentText,
  api,
  assertClean,
  chromiumPath,
  hasRoute,
  missing,
  newAgentSession,
  openApp,
  openFromList,
  sendPrompt,
  shot,
  skipUnless,
  startDaemon,
  terminalRows,
  waitLive,
  waitStatus,
  waitTurns,
} from './harness.mjs';

const why = missing();
if (why && process.env.SWITCHYARD_WEB_REQUIRE === '1') throw new Error(`web e2e cannot run: ${why}`);

/** A scenario with its own daemon and Chromium, both stopped at the end. */
function scenario(name, body) {
  test(name, { skip: why || false, timeout: 180_000 }, async (t) => {
    const daemon = await startDaemon();
    const browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: CHROMIUM_ARGS });
    try {
      await body(t, { daemon, browser });
    } catch (e) {
      e.message += `\n--- daemon log (tail) ---\n${daemon.log().slice(-4000)}`;
      throw e;
    } finally {
      await browser.close();
      await daemon.stop();
    }
  });
}

scenario('0. the printed URL opens the client: token leaves the address bar, strict CSP, no session open', async (_t, { daemon, browser }) => {
  const a = await openApp(browser, daemon);
  assert.equal(new URL(a.page.url()).search, '', 'the token is removed from the URL');
  assert.equal(await a.page.evaluate(() => sessionStorage.getItem('switchyard.token')), TOKEN);
  const resp = await a.page.request.get(daemon.url + '/');
  assert.match(resp.headers()['content-security-policy'], /script-src 'self' 'wasm-unsafe-eval';/);
  await a.page.getByRole('heading', { name: 'No session open' }).waitFor();
  await shot(a.page, '0-empty-1280');
  // A wrong token: a clear error and a way to enter another, not a blank page.
  const bad = await a.context.newPage();
  await bad.goto(`${daemon.url}/?token=wrong`);
  await bad.getByRole('heading', { name: 'The daemon refused the token' }).waitFor();
  assert.match(await bad.textContent('.fatal'), /unauthorized/);
  await shot(bad, '0-wrong-token');
  await assertClean(assert, a);
});

scenario('1. A sends /write; both see the card; B approves; both see it resolved by B; the file exists', async (_t, { daemon, browser }) => {
  const a = await openApp(browser, daemon, { name: 'Ada' });
  const b = await openApp(browser, daemon, { name: 'B' });
  const { sessionId } = await newAgentSession(a.page);
  const bIds = await openFromList(b.page, sessionId, 'control');
  // A sees B join, by name.
  await a.page.waitForSelector(`.presence li[data-client-id="${bIds.clientId}"]`);
  assert.match(await a.page.textContent(`.presence li[data-client-id="${bIds.clientId}"]`), /^B/);
  // The list's count for the open session moves with the presence bar (the
  // same render), not at the list's next poll.
  assert.equal(
    await a.page.textContent(`.session-list li[data-session-id="${sessionId}"] .attached-count`),
    '2 attached',
  );

  // The / menu offers the agent's commands.
  const box = a.page.getByRole('combobox', { name: 'Prompt' });
  await box.fill('/wr');
  await a.page.waitForSelector('.slash-menu li[data-command="write"]');
  await shot(a.page, '1a-slash-menu');
  await box.press('Enter'); // picks /write
  assert.equal(await box.inputValue(), '/write ');
  await box.fill('/write notes.txt hello');
  await box.press('Enter');

  for (const p of [a.page, b.page]) {
    await p.waitForSelector('.permission.pending button[data-option-id]:not([disabled])');
  }
  await shot(a.page, '1b-permission-A');
  await shot(b.page, '1b-permission-B');
  const allow = b.page.locator('.permission.pending button.opt-allow_once');
  await allow.click();

  for (const p of [a.page, b.page]) {
    await p.waitForSelector(`.permission.resolved[data-outcome="selected"][data-voter="${bIds.clientId}"]`);
  }
  assert.match(await a.page.textContent('.permission.resolved'), /Allow by B$/);
  assert.match(await b.page.textContent('.permission.resolved'), /Allow by you$/);
  assert.equal(await a.page.$$eval('.permission.pending', (x) => x.length), 0);
  await waitTurns(a.page, 1);
  await waitTurns(b.page, 1);
  // The tool call card: kind, status, provenance, and the diff.
  for (const p of [a.page, b.page]) {
    const card = p.locator('.tool-call[data-status="completed"]');
    await card.waitFor();
    assert.match(await card.textContent(), /Write notes\.txt.*edit.*completed.*builtin/s);
    assert.match(await card.locator('.diff').textContent(), /\+ hello/);
  }
  assert.match(await agentText(a.page), /Wrote 5 bytes to notes\.txt/);
  await shot(a.page, '1c-resolved-A');
  await shot(b.page, '1c-resolved-B');
  assert.equal(readFileSync(join(daemon.workspace, 'notes.txt'), 'utf8'), 'hello');
  await assertClean(assert, a, b);
});

scenario('2. B switches approval mode and model; A’s pickers follow in the task that delivers the frame', async (t, { daemon, browser }) => {
  const routes = (await hasRoute(daemon, '/session/{id}/model')) && (await hasRoute(daemon, '/session/{id}/approval-mode'));
  if (skipUnless(t, routes, 'POST /session/{id}/model and /approval-mode (issue 5)')) return;
  const a = await openApp(browser, daemon, { name: 'Ada' });
  const b = await openApp(browser, daemon, { name: 'B' });
  const { sessionId } = await newAgentSession(a.page);
  await openFromList(b.page, sessionId, 'control');
  for (const p of [a.page, b.page]) await p.waitForSelector('#model-picker:not([disabled]) option[value="demo-smart"]', { state: 'attached' });
  // In A, record the pickers' values synchronously in the same task that
  // applied each frame (the client announces `switchyard:rendered` there).
  await a.page.evaluate(() => {
    window.__seen = [];
    document.addEventListener('switchyard:rendered', (e) => {
      for (const type of e.detail.types) {
        window.__seen.push({
          type,
          model: document.querySelector('#model-picker').value,
          mode: document.querySelector('#mode-picker').value,
        });
      }
    });
  });
  const before = await a.page.$eval('#mode-picker', (s) => s.value);
  assert.notEqual(before, 'plan');
  await b.page.selectOption('#mode-picker', 'plan');
  await a.page.waitForFunction(() => window.__seen.some((s) => s.type === 'approval_mode_changed'));
  await b.page.selectOption('#model-picker', 'demo-smart');
  await a.page.waitForFunction(() => window.__seen.some((s) => s.type === 'model_switched'));
  const seen = await a.page.evaluate(() => window.__seen);
  const mode = seen.find((s) => s.type === 'approval_mode_changed');
  const model = seen.find((s) => s.type === 'model_switched');
  assert.equal(mode.mode, 'plan', 'A’s mode picker showed the new mode when the frame was applied');
  assert.equal(model.model, 'demo-smart', 'A’s model picker showed the new model when the frame was applied');
  assert.equal(await b.page.$eval('#mode-picker', (s) => s.value), 'plan');
  await shot(a.page, '2-pickers-followed-A');
  await shot(b.page, '2-pickers-B');
  await assertClean(assert, a, b);
});

scenario('3. A goes offline during /flood 2000 and comes back: complete, no duplicate, equal to B', async (_t, { daemon, browser }) => {
  const a = await openApp(browser, daemon, { name: 'Ada' });
  const b = await openApp(browser, daemon, { name: 'B' });
  const { sessionId } = await newAgentSession(a.page);
  await openFromList(b.page, sessionId, 'observer');
  await sendPrompt(a.page, '/flood 2000');
  // Offline mid-stream: once A has drawn some of it.
  await a.page.waitForFunction(() => /chunk 5\b/.test(document.querySelector('.transcript')?.innerText ?? ''));
  await a.context.setOffline(true);
  await waitStatus(a.page, 'reconnecting');
  await shot(a.page, '3a-offline-A');
  await waitTurns(b.page, 1);
  await a.context.setOffline(false);
  await waitStatus(a.page, 'live');
  await waitTurns(a.page, 1);
  const [ta, tb] = [await agentText(a.page), await agentText(b.page)];
  const numbers = [...ta.matchAll(/chunk (\d+)/g)].map((m) => Number(m[1]));
  assert.equal(numbers.length, 2000, 'every chunk once');
  assert.deepEqual(numbers, Array.from({ length: 2000 }, (_, i) => i), 'in order, no gap, no duplicate');
  assert.equal(ta, tb, 'A’s transcript equals B’s');
  assert.equal(
    await a.page.$eval('section.session', (s) => s.dataset.lastEventId),
    await b.page.$eval('section.session', (s) => s.dataset.lastEventId),
  );
  await shot(a.page, '3b-back-online-A');
  await shot(b.page, '3b-B');
  await assertClean(assert, a, b);
});

scenario('4. an observer (320 px) cannot prompt or vote; the daemon refuses when forced', async (_t, { daemon, browser }) => {
  const a = await openApp(browser, daemon, { name: 'Ada' });
  const o = await openApp(browser, daemon, { name: 'Obi', width: 320, height: 640 });
  const { sessionId } = await newAgentSession(a.page);
  await o.page.waitForSelector(`li[data-session-id="${sessionId}"]`);
  await shot(o.page, '4-list-320');
  await openFromList(o.page, sessionId, 'observer');
  const box = o.page.getByRole('combobox', { name: 'Prompt' });
  assert.equal(await box.isDisabled(), true);
  assert.equal(await o.page.getByRole('button', { name: 'Send' }).isDisabled(), true);
  assert.equal(await o.page.$eval('#model-picker', (s) => s.disabled), true);
  assert.equal(await o.page.$eval('#mode-picker', (s) => s.disabled), true);
  await sendPrompt(a.page, '/write forced.txt nope');
  await o.page.waitForSelector('.permission.pending button[data-option-id]');
  assert.equal(await o.page.$$eval('.permission.pending button[data-option-id]', (bs) => bs.every((b) => b.disabled)), true);
  await shot(o.page, '4a-observer-320');

  // Forced: enable the buttons in the page and use them; the daemon says no.
  await o.page.$$eval('.permission.pending button', (bs) => bs.forEach((b) => (b.disabled = false)));
  await o.page.click('.permission.pending button.opt-allow_once');
  await o.page.waitForSelector('.error[data-kind="role_forbidden"]');
  await o.page.$eval('#prompt-input', (x) => (x.disabled = false));
  await o.page.$eval('.prompt button[type="submit"]', (x) => (x.disabled = false));
  await box.fill('/echo forced');
  await box.press('Enter');
  await o.page.waitForFunction(() => /Send prompt/.test(document.querySelector('.error[data-kind="role_forbidden"]')?.textContent ?? '') || document.querySelectorAll('.error[data-kind="role_forbidden"]').length > 1);
  assert.match(await o.page.textContent('.errors'), /role_forbidden/);
  await shot(o.page, '4b-observer-forced-320');
  // Nothing happened: the request is still pending for A, who rejects it.
  await a.page.waitForSelector('.permission.pending button.opt-reject_once:not([disabled])');
  await a.page.click('.permission.pending button.opt-reject_once');
  await waitTurns(a.page, 1);
  assert.throws(() => readFileSync(join(daemon.workspace, 'forced.txt')));
  assert.doesNotMatch(await agentText(a.page), /forced/);

  await assertClean(assert, a, o);
});

scenario('4t. an observer (320 px) cannot type in a terminal or claim it; the daemon refuses when forced', async (t, { daemon, browser }) => {
  if (skipUnless(t, await hasRoute(daemon, '/session/{id}/input'), 'terminal sessions (issue 6)')) return;
  const a = await openApp(browser, daemon, { name: 'Ada' });
  const o = await openApp(browser, daemon, { name: 'Obi', width: 320, height: 640 });
  await a.page.getByRole('button', { name: 'New terminal' }).click();
  const term = await waitLive(a.page);
  const obs = await openFromList(o.page, term.sessionId, 'observer');
  assert.equal(await o.page.getByRole('button', { name: 'Claim' }).isDisabled(), true);
  const inputs = [];
  o.page.on('request', (r) => r.url().endsWith('/input') && inputs.push(r.url()));
  await o.page.click('.term-host');
  await o.page.keyboard.type('echo nope');
  // Forced, from the observer's page with its own client id: refused.
  const force = (path, body) =>
    o.page.evaluate(
      async ({ path, body, cid }) => {
        const token = sessionStorage.getItem('switchyard.token');
        const r = await fetch(path, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'x-client-id': cid, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
        return { status: r.status, body: await r.json() };
      },
      { path, body, cid: obs.clientId },
    );
  const typed = await force(`/session/${term.sessionId}/input`, { data: 'echo forced\r' });
  assert.equal(typed.status, 403);
  assert.equal(typed.body.error.kind, 'role_forbidden');
  // The forced request was the first /input this page sent: the keystrokes before it never went out.
  assert.equal(inputs.length, 1, 'an observer’s keystrokes are not sent');
  const claimed = await force(`/session/${term.sessionId}/owner`, { action: 'claim' });
  assert.equal(claimed.status, 403);
  assert.equal(claimed.body.error.kind, 'role_forbidden');
  await shot(o.page, '4c-observer-terminal-320');
  await assertClean(assert, a, o);
});

scenario('5. terminal: the owner runs echo ready, an observer sees it, a late joiner sees it from the snapshot', async (t, { daemon, browser }) => {
  if (skipUnless(t, await hasRoute(daemon, '/session/{id}/input'), 'terminal sessions (issue 6)')) return;
  const a = await openApp(browser, daemon, { name: 'Ada' });
  const b = await openApp(browser, daemon, { name: 'B' });
  await a.page.getByRole('button', { name: 'New terminal' }).click();
  const { sessionId } = await waitLive(a.page);
  await openFromList(b.page, sessionId, 'observer');
  // The creator may or may not own the terminal already: claim if not.
  const claim = a.page.getByRole('button', { name: 'Claim' });
  if (!(await claim.isDisabled())) await claim.click();
  await a.page.waitForSelector('.terminal-view[data-owner="true"]');
  await a.page.click('.term-host');
  await a.page.keyboard.type('echo ready');
  await a.page.keyboard.press('Enter');
  const ready = (p) => p.waitForFunction(() => [...document.querySelectorAll('.xterm-rows > div')].some((r) => r.textContent.replace(/\u00a0/g, ' ').trim() === 'ready'));
  await ready(a.page);
  await ready(b.page);
  await shot(a.page, '5a-owner-A');
  await shot(b.page, '5a-observer-B');
  const c = await openApp(browser, daemon, { name: 'Cy', width: 320, height: 640 });
  await openFromList(c.page, sessionId, 'observer');
  await ready(c.page);
  assert.equal(await c.page.$eval('.terminal-view', (v) => v.dataset.screenSource), 'snapshot-screen');
  assert.ok((await terminalRows(c.page)).some((r) => r.includes('echo ready')));
  await shot(c.page, '5b-late-joiner-320');
  await assertClean(assert, a, b, c);
});
