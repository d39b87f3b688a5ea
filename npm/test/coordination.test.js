// Multi-client coordination through the SDK against the real daemon: a vote
// from another client resolves a prompt's permission request, and model and
// approval-mode changes reach two connections exactly once each.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Client, Connection, SessionView } from '../node.js';
import { skipWithoutDaemon, startDaemon, TOKEN } from './e2e/daemon.js';
import { until } from './helpers.js';

/** Two clients on one new session, each with a started connection. */
async function twoClients(d, roleB) {
  const a = new Client({ baseUrl: d.url, token: TOKEN });
  const workspace = d.workspace();
  const created = await a.createSession({ cwd: workspace });
  const { sessionId } = created;
  const b = new Client({ baseUrl: d.url, token: TOKEN });
  await b.attach(sessionId, roleB);
  const views = [new SessionView(), new SessionView()];
  const frames = [[], []];
  const connections = [a, b].map((client, i) => {
    const c = new Connection({
      baseUrl: d.url,
      token: TOKEN,
      sessionId,
      clientId: client.clientIdFor(sessionId),
      view: views[i],
      onFrame: (f) => frames[i].push(f),
    });
    c.start();
    return c;
  });
  return { a, b, sessionId, workspace, views, frames, connections };
}

test('a vote from client B resolves client A\'s request, naming both', { skip: skipWithoutDaemon() }, async () => {
  const d = await startDaemon();
  let s;
  try {
    s = await twoClients(d, 'control');
    const { a, b, sessionId, workspace, views } = s;
    await a.prompt(sessionId, '/write notes.txt hello');
    await until(() => views[1].state().permissions.pending.length === 1, 10000, 'B sees the card');
    const [card] = views[1].state().permissions.pending;
    assert.equal(card.originatorClientId, a.clientIdFor(sessionId));
    const res = await b.allow(sessionId, card.requestId, 'allow');
    assert.equal(res.voterClientId, b.clientIdFor(sessionId));
    await until(
      () => views.every((v) => v.state().permissions.resolved.length === 1 && v.state().turn.turnsEnded === 1),
      10000,
      'both see it resolved and the turn end',
    );
    for (const v of views) {
      const [r] = v.state().permissions.resolved;
      assert.equal(r.voterClientId, b.clientIdFor(sessionId));
      assert.equal(r.originatorClientId, a.clientIdFor(sessionId));
    }
    assert.equal(await readFile(join(workspace, 'notes.txt'), 'utf8'), 'hello');
  } finally {
    s?.connections.forEach((c) => c.close());
    await d.stop();
  }
});

test('model and approval-mode changes reach two connections exactly once', { skip: skipWithoutDaemon() }, async () => {
  const d = await startDaemon();
  let s;
  try {
    s = await twoClients(d, 'observer');
    const { a, b, sessionId, views, frames } = s;
    await until(() => views.every((v) => v.state().model.currentModelId === 'demo-fast'), 10000, 'seeded model');

    const m = await a.setModel(sessionId, 'demo-smart');
    assert.deepEqual(m, { sessionId, modelId: 'demo-smart' });
    const md = await a.setApprovalMode(sessionId, 'plan');
    assert.deepEqual(md, { sessionId, mode: 'plan', persisted: false });
    await until(
      () => views.every((v) => v.state().model.currentModelId === 'demo-smart' && v.state().mode.currentModeId === 'plan'),
      10000,
      'both views follow',
    );
    // A marker turn: everything before it has been delivered to both.
    const { promptId } = await a.prompt(sessionId, '/echo marker');
    await until(
      () => frames.every((fs) => fs.some((f) => f.type === 'turn_complete' && f.promptId === promptId)),
      10000,
      'marker turn on both',
    );
    for (const fs of frames) {
      assert.deepEqual(fs.filter((f) => f.type === 'model_switched').map((f) => f.data.modelId), ['demo-smart']);
      assert.deepEqual(
        fs.filter((f) => f.type === 'approval_mode_changed').map((f) => [f.data.previous, f.data.next, f.data.scope]),
        [['default', 'plan', 'session']],
      );
    }

    await assert.rejects(a.setModel(sessionId, 'gpt-9'), (e) => e.kind === 'invalid_model' && e.status === 400 && /demo-fast/.test(e.hint));
    await assert.rejects(b.setApprovalMode(sessionId, 'yolo'), (e) => e.kind === 'role_forbidden' && e.status === 403);
  } finally {
    s?.connections.forEach((c) => c.close());
    await d.stop();
  }
});
