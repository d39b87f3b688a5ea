// The daemon is killed with kill -9 while an SDK Connection streams a
// session, and restarted on the same data dir and port: the Connection
// reconnects by itself, resumes from the journal, and ends with the view a
// fresh attach gets. Uses $SWITCHYARD_BIN or target/{debug,release}/switchyard.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '../node.js';
import { until } from './helpers.js';
import { TOKEN, freshSnapshotView, skipWithoutDaemon, startDaemon } from './e2e/daemon.js';

test('a Connection survives kill -9 and a restart of the daemon', { skip: skipWithoutDaemon() }, async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'switchyard-restart-'));
  let daemon = await startDaemon({ dataDir });
  const conns = [];
  try {
    const client = new Client({ baseUrl: daemon.url, token: TOKEN });
    const created = await client.createSession({ cwd: daemon.workspace() });
    const id = created.sessionId;
    const statuses = [];
    const conn = client.connect(id, { onStatus: (s) => statuses.push(s) });
    conns.push(conn);
    await until(() => conn.status === 'live', 10000, 'live');

    // Mid-flood: kill -9.
    await client.prompt(id, '/flood 100000');
    await until(() => conn.view.lastEventId > 800, 20000, 'flood under way');
    await daemon.kill9();
    await until(() => conn.status !== 'live', 10000, 'the connection noticed');
    const before = conn.view.lastEventId;

    // Same data dir, same port: the Connection's URL still works.
    daemon = await startDaemon({ dataDir, listen: `127.0.0.1:${daemon.port}` });
    await until(() => conn.status === 'live', 20000, 'reconnected by itself');
    // It resumed (no resync): everything it had is still its history.
    assert.ok(conn.view.lastEventId >= before);
    const state = () => JSON.parse(conn.view.stateJson());
    await until(() => state().lifecycle.state !== undefined && state().turn.running === false, 20000, 'the interrupted turn is settled');

    // The restored session answers, and the view equals a fresh attach's.
    await client.prompt(id, '/echo back again');
    await until(() => state().transcript.some((e) => e.text && e.text.includes('back again')) && !state().turn.running, 20000, 'echo');
    const summary = await client.getSession(id);
    await until(() => conn.view.lastEventId >= summary.lastEventId, 10000, 'caught up');
    const snapshotView = await freshSnapshotView({
      baseUrl: daemon.url,
      token: TOKEN,
      sessionId: id,
      clientId: created.clientId,
    });
    const mine = state();
    assert.equal(snapshotView.lastEventId, mine.lastEventId, 'nothing published in between');
    assert.deepEqual({ ...mine, stream: undefined, counters: undefined }, { ...snapshotView, stream: undefined, counters: undefined });
    assert.equal(mine.stream.resyncRequiredCount ?? 0, 0, 'resumed gaplessly, never reseeded');
  } finally {
    for (const c of conns) c.close();
    await daemon.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
