// A real shell on a real PTY, driven through the SDK by two clients with two
// connections: the owner types, the observer watches the same bytes, the
// daemon enforces who may type, ownership changes hands, and the size
// follows the owner.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Client, Connection, SessionView } from '../node.js';
import { skipWithoutDaemon, startDaemon, TOKEN } from './e2e/daemon.js';
import { until } from './helpers.js';

function watch(d, sessionId, clientId, connections) {
  const view = new SessionView();
  const frames = [];
  const c = new Connection({
    baseUrl: d.url,
    token: TOKEN,
    sessionId,
    clientId,
    view,
    onFrame: (f) => frames.push(f),
  });
  connections.push(c);
  c.start();
  const output = () => view.state().terminal?.output ?? '';
  return { view, frames, output };
}

test('terminal: owner types, observer watches, ownership hands over', { skip: skipWithoutDaemon() }, async () => {
  const d = await startDaemon();
  const connections = [];
  try {
    const a = new Client({ baseUrl: d.url, token: TOKEN });
    const created = await a.createSession({
      kind: 'terminal',
      command: '/bin/sh',
      cwd: d.workspace(),
      env: { PS1: '$ ' },
      cols: 90,
      rows: 30,
    });
    const { sessionId, clientId: aId } = created;
    assert.equal(created.kind, 'terminal');

    const b = new Client({ baseUrl: d.url, token: TOKEN });
    const { clientId: bId } = await b.attach(sessionId, 'observer');
    const c = new Client({ baseUrl: d.url, token: TOKEN });
    const { clientId: cId } = await c.attach(sessionId, 'control');

    const wa = watch(d, sessionId, aId, connections);
    const wb = watch(d, sessionId, bId, connections);
    const owner = (w) => w.view.state().presence.ownerClientId;
    await until(() => owner(wa) === aId && owner(wb) === aId, 10000, 'the creator owns the terminal');

    // The shell computes the answer, so only a real round trip prints it.
    await a.input(sessionId, 'echo sdk-$((6*7))\r');
    await until(() => wa.output().includes('sdk-42') && wb.output().includes('sdk-42'), 10000, 'both see the output');

    await assert.rejects(b.input(sessionId, 'echo nope\r'), (e) => e.kind === 'role_forbidden' && e.status === 403);
    await assert.rejects(c.input(sessionId, 'echo nope\r'), (e) => e.kind === 'owner_required' && e.status === 409);
    await assert.rejects(c.claimOwner(sessionId), (e) => e.kind === 'owner_required' && e.status === 409);
    await assert.rejects(b.claimOwner(sessionId), (e) => e.kind === 'role_forbidden' && e.status === 403);

    await a.releaseOwner(sessionId);
    await until(() => owner(wb) === null, 10000, 'B sees the terminal unowned');
    const claimed = await c.claimOwner(sessionId);
    assert.equal(claimed.ownerClientId, cId);
    await until(() => owner(wa) === cId && owner(wb) === cId, 10000, 'both see C own it');
    await assert.rejects(a.input(sessionId, 'echo nope\r'), (e) => e.kind === 'owner_required');

    // The size follows the owner, and the program sees it.
    await c.resize(sessionId, 101, 33);
    await until(() => wb.view.state().terminal?.cols === 101, 10000, 'B sees the resize');
    await c.input(sessionId, 'stty size\r');
    await until(() => wb.output().includes('33 101'), 10000, 'the program sees 33 rows, 101 cols');

    assert.ok(!wa.output().includes('nope') && !wb.output().includes('nope'), 'refused input never reached the shell');
    const ownerChanges = wb.frames.filter((f) => f.type === 'owner_changed').map((f) => f.data.ownerClientId);
    assert.deepEqual(ownerChanges.slice(-2), [null, cId]);

    // Ending it: exactly one terminal_exited reaches each connection.
    await c.signal(sessionId, 'KILL');
    await until(() => wa.view.state().terminal?.exited && wb.view.state().terminal?.exited, 10000, 'both see the exit');
    for (const w of [wa, wb]) {
      assert.equal(w.frames.filter((f) => f.type === 'terminal_exited').length, 1);
      assert.equal(w.view.state().terminal.exited.signal, 'SIGKILL');
    }
  } finally {
    for (const c of connections) c.close();
    await d.stop();
  }
});

test('terminal: kill-all ends every terminal and leaves agent sessions alone', { skip: skipWithoutDaemon() }, async () => {
  const d = await startDaemon();
  try {
    const a = new Client({ baseUrl: d.url, token: TOKEN });
    const t1 = await a.createSession({ kind: 'terminal', command: '/bin/sh', cwd: d.workspace() });
    const t2 = await a.createSession({ kind: 'terminal', command: '/bin/sh', cwd: d.workspace() });
    const agent = await a.createSession({ cwd: d.workspace() });
    const res = await a.killAllTerminals();
    assert.deepEqual([...res.killed].sort(), [t1.sessionId, t2.sessionId].sort());
    await until(async () => {
      const list = await a.listSessions();
      const status = Object.fromEntries(list.map((s) => [s.sessionId, s.status]));
      return status[t1.sessionId] !== 'running' && status[t2.sessionId] !== 'running' && status[agent.sessionId] === 'running';
    }, 10000, 'terminals ended, the agent session still running');
  } finally {
    await d.stop();
  }
});
