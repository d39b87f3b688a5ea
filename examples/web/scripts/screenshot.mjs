// Regenerates the README's screenshot (docs/img/web-client.png) from the
// real app: a daemon serving dist/, two people on one session, a plan, a
// tool call with its diff, a resolved permission card and markdown.
//
//   npm run build && node scripts/screenshot.mjs
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import {
  CHROMIUM_ARGS,
  chromiumPath,
  newAgentSession,
  openApp,
  openFromList,
  repo,
  sendPrompt,
  startDaemon,
  waitTurns,
} from '../test/harness.mjs';

const daemon = await startDaemon();
const browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: CHROMIUM_ARGS });
try {
  const a = await openApp(browser, daemon, { name: 'Ada', width: 1200, height: 820 });
  const b = await openApp(browser, daemon, { name: 'Bo', width: 1200, height: 760 });
  const { sessionId } = await newAgentSession(a.page);
  await openFromList(b.page, sessionId, 'control');
  await sendPrompt(a.page, '/plan');
  await waitTurns(a.page, 1);
  await sendPrompt(a.page, '/write hello.md Hello from Switchyard');
  await b.page.waitForSelector('.permission.pending button:not([disabled])');
  await b.page.click('.permission.pending button.opt-allow_once');
  await waitTurns(a.page, 2);
  await sendPrompt(a.page, '/echo Two browsers, **one** session: `Bo` approved that write.');
  await waitTurns(a.page, 3);
  await a.page.locator('.transcript').evaluate((t) => (t.scrollTop = t.scrollHeight));
  await a.page.locator('#prompt-input').fill('/think');
  const out = join(repo, 'docs/img/web-client.png');
  await a.page.screenshot({ path: out });
  console.log(`wrote ${out}`);
} finally {
  await browser.close();
  await daemon.stop();
}
