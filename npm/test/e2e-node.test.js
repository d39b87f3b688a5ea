// End to end in Node against the real daemon (the demo agent): the SDK's
// Node entry driven through test/e2e/pages/driver.js. Scenarios (shared
// with e2e-browser.test.js) are in test/e2e/scenarios.js. Uses
// $SWITCHYARD_BIN or target/{debug,release}/switchyard; skipped without one
// (a failure with SWITCHYARD_REQUIRE_DAEMON=1).
import { test } from 'node:test';
import * as sdk from '../node.js';
import { createDriver } from './e2e/pages/driver.js';
import { skipWithoutDaemon, startDaemon } from './e2e/daemon.js';
import { withDeadline } from './e2e/deadline.js';
import * as scenarios from './e2e/scenarios.js';

const skip = skipWithoutDaemon();
const DEADLINE_MS = 45000;

/** Runs `scenario` with a fresh daemon and driver; cleans up even on failure. */
function e2e(name, scenario) {
  test(`node e2e: ${name}`, { skip, timeout: 60000 }, async () => {
    const cleanups = [];
    const defer = (fn) => cleanups.push(fn);
    const startOne = async (args = []) => {
      const daemon = await startDaemon({ args });
      defer(daemon.stop);
      return daemon;
    };
    const driver = createDriver(sdk);
    try {
      const daemon = await startOne();
      defer(() => driver.closeAll());
      // JSON in and out, as through page.evaluate.
      const d = async (method, ...args) => {
        const result = await driver[method](...JSON.parse(JSON.stringify(args)));
        return result === undefined ? undefined : JSON.parse(JSON.stringify(result));
      };
      await withDeadline(scenario({ d, daemon, startDaemon: startOne, defer }), DEADLINE_MS, name);
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

e2e('1. connect and stream an /echo turn (connecting → live)', scenarios.echoTurn);
e2e('2. vote on a permission (/write)', scenarios.permissionVote);
e2e('3. TCP reset mid-/flood 3000: gapless resume with Last-Event-ID', scenarios.resumeAfterDrop);
e2e('4. resume past a 64-frame ring: resync + snapshot in band', scenarios.resumePastRing);
e2e('5. epoch_reset: a resume point from the future', scenarios.epochReset);
