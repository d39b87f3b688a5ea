// Presence through the SDK against the real daemon: a client that detaches
// disappears from every connection's view, announced once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Client, Connection, SessionView } from '../node.js';
import { skipWithoutDaemon, startDaemon, TOKEN } from './e2e/daemon.js';
import { until } from './helpers.js';

test('detach: client_left reaches every connection and the id is forgotten', { skip: skipWithoutDaemon() }, async () => {
  const d = await startDaemon();
  const connections = [];
  try {
    const a = new Client({ baseUrl: d.url, token: TOKEN });
    const { sessionId, clientId: aId } = await a.createSession({ cwd: d.workspace() });
    const b = new Client({ baseUrl: d.url, token: TOKEN });
    const { clientId: bId } = await b.attach(sessionId, 'observer');

    const views = [new SessionView(), new SessionView()];
    const left = [[], []];
    for (const [i, [client, clientId]] of [[a, aId], [b, bId]].entries()) {
      const c = new Connection({
        baseUrl: d.url,
        token: TOKEN,
        sessionId,
        clientId,
        view: views[i],
        onFrame: (f) => f.type === 'client_left' && left[i].push(f.data),
      });
      connections.push(c);
      c.start();
    }
    const ids = (v) => v.state().presence.clients.map((c) => c.clientId).sort();
    await until(() => views.every((v) => ids(v).length === 2), 10000, 'both clients present');

    const res = await b.detach(sessionId);
    assert.deepEqual(res, { sessionId, clientId: bId, detached: true });
    await until(() => ids(views[0]).length === 1, 10000, 'A sees B leave');
    assert.deepEqual(ids(views[0]), [aId]);
    assert.deepEqual(left[0], [{ clientId: bId, reason: 'detached' }]);

    await assert.rejects(b.detach(sessionId), (e) => e.kind === 'unknown_client' && e.status === 400);
  } finally {
    for (const c of connections) c.close();
    await d.stop();
  }
});
