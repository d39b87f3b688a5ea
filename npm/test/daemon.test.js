// End to end against the real daemon (the demo agent): Client + Connection.
// Uses $SWITCHYARD_BIN, or target/{debug,release}/switchyard when built;
// skipped when there is no binary (build it: cargo build -p switchyard-server).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection, SwitchyardError } from '../node.js';
import { until } from './helpers.js';
import { freshSnapshotView } from './e2e/daemon.js';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const bin = [
  process.env.SWITCHYARD_BIN,
  join(repo, 'target/debug/switchyard'),
  join(repo, 'target/release/switchyard'),
].find((p) => p && existsSync(p));

async function startDaemon() {
  const dataDir = mkdtempSync(join(tmpdir(), 'switchyard-sdk-e2e-'));
  // Workspaces are made under the data dir, which agents may write in.
  const args = ['serve', '--listen', '127.0.0.1:0', '--token', 'tok', '--data-dir', dataDir, '--trusted-root', dataDir];
  const child = spawn(bin, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, SWITCHYARD_DEMO_AGENT_STATE_DIR: join(dataDir, 'demo') },
  });
  let log = '';
  child.stderr.on('data', (d) => (log = (log + d).slice(-20000)));
  const url = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`daemon did not start: ${out}${log}`)), 15000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/listening on (http:\/\/\S+)/);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.on('exit', (code) => reject(new Error(`daemon exited (${code}): ${out}${log}`)));
  });
  return {
    url,
    dataDir,
    stop: () => {
      child.kill('SIGTERM');
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

const agentText = (state) =>
  state.transcript
    .filter((e) => e.kind === 'message' && e.role === 'agent')
    .map((e) => e.text)
    .join('');

// In CI (SWITCHYARD_REQUIRE_DAEMON=1, set by scripts/test.sh) a missing
// binary is a failure, not a skip.
if (!bin && process.env.SWITCHYARD_REQUIRE_DAEMON === '1') {
  throw new Error('no switchyard binary: build it with cargo build -p switchyard-server or set SWITCHYARD_BIN');
}

test('real daemon: echo, observers, permissions, errors, close', { skip: !bin && 'no switchyard binary' }, async () => {
  const daemon = await startDaemon();
  const conns = [];
  try {
    const workspace = mkdtempSync(join(daemon.dataDir, 'ws-'));
    const control = new Client({ baseUrl: daemon.url, token: 'tok' });
    assert.equal((await control.health()).status, 'ok');
    assert.equal((await control.capabilities()).protocolVersion, 1);
    const created = await control.createSession({ cwd: workspace });
    const id = created.sessionId;
    assert.equal(created.role, 'control');

    let latest;
    const statuses = [];
    const conn = control.connect(id, {
      onState: (s) => (latest = s),
      onStatus: (s) => statuses.push(s),
    });
    conns.push(conn);
    await until(() => conn.status === 'live', 10000, 'live');

    // An observer, with its own client and connection.
    const observer = new Client({ baseUrl: daemon.url, token: 'tok' });
    const attached = await observer.attach(id, 'observer', 'watcher');
    assert.equal(attached.role, 'observer');
    const watch = observer.connect(id, {});
    conns.push(watch);

    // /echo streams back through the reducer.
    const accepted = await control.prompt(id, '/echo hi there');
    assert.equal(accepted.duplicate, false);
    await until(() => latest && latest.turn.turnsEnded === 1, 10000, 'turn end');
    assert.equal(agentText(latest), 'hi there');

    // Observers cannot drive.
    const forbidden = await observer.prompt(id, 'nope').then(() => null, (e) => e);
    assert.ok(forbidden instanceof SwitchyardError);
    assert.equal(forbidden.kind, 'role_forbidden');
    assert.equal(forbidden.status, 403);

    // Permission: first valid vote wins.
    await control.prompt(id, '/write note.txt written by the sdk test');
    await until(() => latest.permissions.pending.length === 1, 10000, 'permission request');
    const request = latest.permissions.pending[0];
    const allow = request.options.find((o) => o.kind === 'allow_once');
    const denied = await observer.allow(id, request.requestId, allow.optionId).then(() => null, (e) => e);
    assert.equal(denied.kind, 'role_forbidden');
    const vote = await control.allow(id, request.requestId, allow.optionId);
    assert.equal(vote.requestId, request.requestId);
    const late = await control.choose(id, request.requestId, allow.optionId).then(() => null, (e) => e);
    assert.equal(late.kind, 'permission_already_resolved');
    await until(() => latest.turn.turnsEnded === 2, 10000, 'write turn end');
    assert.equal(readFileSync(join(workspace, 'note.txt'), 'utf8'), 'written by the sdk test');
    assert.equal(latest.permissions.resolved[0].voterClientId, created.clientId);

    // Every client converges on the daemon's view: a fresh attach's
    // snapshot equals what both connections reduced.
    const snapshotView = await freshSnapshotView({
      baseUrl: daemon.url,
      token: 'tok',
      sessionId: id,
      clientId: created.clientId,
    });
    await until(() => watch.view.lastEventId === conn.view.lastEventId, 5000, 'observer caught up');
    assert.equal(watch.view.stateJson(), conn.view.stateJson());
    const mine = JSON.parse(conn.view.stateJson());
    assert.deepEqual({ ...mine, stream: undefined }, { ...snapshotView, stream: undefined, lastEventId: mine.lastEventId });

    // A wrong token is fatal for a connection.
    let fatal;
    const bad = new Connection({
      baseUrl: daemon.url,
      token: 'wrong',
      sessionId: id,
      clientId: created.clientId,
      onStatus: (s, d) => s === 'closed' && (fatal = d),
    });
    conns.push(bad);
    bad.start();
    await until(() => fatal, 5000, 'fatal');
    assert.equal(fatal.reason, 'fatal');
    assert.equal(fatal.error.kind, 'unauthorized');

    // Closing the session ends both streams for good.
    const closed = await control.closeSession(id);
    assert.equal(closed.status, 'closed');
    await until(() => conn.status === 'closed' && watch.status === 'closed', 10000, 'streams closed');
    assert.equal(conn.view.state().lifecycle.state, 'closed');
    assert.deepEqual(statuses.slice(0, 2), ['connecting', 'live']);
    assert.equal(statuses.at(-1), 'closed');
    const gone = await control.getSession('s_nope').then(() => null, (e) => e);
    assert.equal(gone.kind, 'session_not_found');
    assert.equal(gone.status, 404);
    rmSync(workspace, { recursive: true, force: true });
  } finally {
    for (const c of conns) c.close();
    daemon.stop();
  }
});
