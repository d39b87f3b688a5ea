// Connection against a fake daemon: headers, statuses, resume, resync,
// eviction, fatal errors, close(), chunking.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Connection, SessionView, SwitchyardError } from '../node.js';
import { chunk, fakeDaemon, frame, snapshot, sse, sseHead, sleep, until } from './helpers.js';

function recorder() {
  const statuses = [];
  const frames = [];
  const states = [];
  return {
    statuses,
    frames,
    states,
    onStatus: (s, d) => statuses.push([s, d]),
    onFrame: (f, o) => frames.push([f, o]),
    onState: (s) => states.push(s),
    names: () => statuses.map(([s]) => s),
  };
}

function connect(daemon, rec, extra = {}) {
  return new Connection({
    baseUrl: daemon.url,
    token: 'tok',
    sessionId: 's_1',
    clientId: 'c_1',
    backoff: { initialMs: 10, maxMs: 40 },
    onStatus: rec.onStatus,
    onFrame: rec.onFrame,
    onState: rec.onState,
    ...extra,
  });
}

test('snapshot, live frames, stream end, resume with Last-Event-ID, close', async () => {
  const daemon = await fakeDaemon((req, res, n) => {
    sseHead(res);
    if (n === 0) {
      res.write('retry: 20\n\n');
      res.write(sse(snapshot(2)));
      res.write(': ping\n\n');
      res.write(sse(chunk('Hel', 3)));
      res.end(sse(chunk('lo', 4)));
    } else {
      res.write(sse(chunk('lo', 4))); // overlap: stale
      res.write(sse(chunk('!', 5)));
      res.write(sse(frame('replay_complete', { lastEventId: 5, replayedCount: 1 })));
      // stays open
    }
  });
  const rec = recorder();
  const conn = connect(daemon, rec);
  try {
    assert.equal(conn.status, 'idle');
    conn.start();
    conn.start(); // no-op
    await until(() => conn.status === 'live' && conn.lastEventId === 5 && daemon.requests.length === 2, 5000, 'resume');
    const [first, second] = daemon.requests;
    assert.equal(first.url, '/session/s_1/events');
    assert.equal(first.headers.authorization, 'Bearer tok');
    assert.equal(first.headers['x-client-id'], 'c_1');
    assert.equal(first.headers['last-event-id'], undefined);
    assert.equal(first.headers.accept, 'text/event-stream');
    assert.equal(second.headers['last-event-id'], '4');
    assert.deepEqual(rec.names(), ['connecting', 'live', 'reconnecting', 'live']);
    const reconnecting = rec.statuses[2][1];
    assert.equal(reconnecting.attempt, 1);
    assert.ok(reconnecting.delayMs >= 20, `retry: is the minimum delay (${reconnecting.delayMs})`);
    assert.equal(reconnecting.error, undefined);
    const text = conn.view.state().transcript.map((e) => e.text).join('');
    assert.equal(text, 'Hello!');
    assert.deepEqual(
      rec.frames.map(([f, o]) => `${f.type}:${o}`),
      [
        'session_snapshot:applied',
        'session_update:applied',
        'session_update:applied',
        'session_update:stale',
        'session_update:applied',
        'replay_complete:applied',
      ],
    );
    assert.ok(rec.states.length >= 2 && rec.states.length <= 6);
    assert.equal(rec.states.at(-1).lastEventId, 5);

    conn.close();
    assert.equal(conn.status, 'closed');
    assert.deepEqual(rec.statuses.at(-1), ['closed', { reason: 'close' }]);
    await sleep(100);
    assert.equal(daemon.requests.length, 2, 'no reconnect after close()');
    assert.equal(rec.statuses.filter(([s]) => s === 'closed').length, 1);
    assert.throws(() => conn.start(), /closed/);
  } finally {
    conn.close();
    await daemon.close();
  }
});

test('resume sends back the epoch of the ids it holds', async () => {
  const daemon = await fakeDaemon((req, res, n) => {
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'x-switchyard-epoch': n === 0 ? 'e-one' : 'e-two',
    });
    if (n === 0) {
      res.write(sse(snapshot(1)));
      res.end(sse(chunk('a', 2)));
    } else if (n === 1) {
      res.end(sse(chunk('b', 3)));
    } else {
      res.write(sse(chunk('c', 4)));
    }
  });
  const rec = recorder();
  const conn = connect(daemon, rec);
  try {
    conn.start();
    await until(() => daemon.requests.length === 3 && conn.lastEventId === 4, 5000, 'two resumes');
    const sent = daemon.requests.map((r) => [r.headers['last-event-id'], r.headers['x-switchyard-epoch']]);
    // Nothing to resume: no epoch. Then always the epoch of the last answer.
    assert.deepEqual(sent, [[undefined, undefined], ['2', 'e-one'], ['3', 'e-two']]);
  } finally {
    conn.close();
    await daemon.close();
  }
});

test('the view is shared, lastEventId option resumes an empty view', async () => {
  const daemon = await fakeDaemon((req, res) => {
    sseHead(res);
    res.write(sse(chunk('x', 8)));
    res.write(sse(frame('replay_complete', { lastEventId: 8, replayedCount: 1 })));
  });
  const view = new SessionView();
  const rec = recorder();
  const conn = connect(daemon, rec, { view, lastEventId: 7 });
  try {
    assert.equal(conn.view, view);
    assert.equal(conn.lastEventId, 7);
    conn.start();
    await until(() => conn.status === 'live');
    assert.equal(daemon.requests[0].headers['last-event-id'], '7');
    assert.equal(view.lastEventId, 8);
    assert.equal(JSON.parse(view.stateJson()).transcript[0].text, 'x');
  } finally {
    conn.close();
    await daemon.close();
  }
  // The caller's view stays usable after the connection is gone.
  conn.free();
  assert.equal(view.lastEventId, 8);
});

test('in-band resync: resyncing until the snapshot', async () => {
  let release;
  const gate = new Promise((r) => (release = r));
  const daemon = await fakeDaemon(async (req, res) => {
    sseHead(res);
    res.write(sse(frame('state_resync_required', { reason: 'ring_evicted', lastDeliveredId: 3, earliestAvailableId: 50 })));
    await gate;
    res.write(sse(snapshot(60)));
    res.write(sse(chunk('after', 61)));
  });
  const rec = recorder();
  const conn = connect(daemon, rec, { lastEventId: 3 });
  try {
    conn.start();
    await until(() => conn.status === 'resyncing');
    assert.deepEqual(rec.statuses.at(-1), ['resyncing', { reason: 'ring_evicted' }]);
    assert.equal(conn.view.awaitingResync, true);
    release();
    await until(() => conn.lastEventId === 61);
    assert.equal(conn.status, 'live');
    assert.equal(conn.view.awaitingResync, false);
    assert.deepEqual(rec.names(), ['connecting', 'resyncing', 'live']);
  } finally {
    conn.close();
    await daemon.close();
  }
});

test('client_evicted reconnects at once', async () => {
  const daemon = await fakeDaemon((req, res, n) => {
    sseHead(res);
    if (n === 0) {
      res.write('retry: 10000\n\n'); // would delay a normal reconnect
      res.write(sse(snapshot(1)));
      res.write(sse(frame('client_evicted', { reason: 'queue_full' })));
      // the daemon would close; keep it open to prove we do not wait
    } else {
      res.write(sse(frame('replay_complete', { lastEventId: 1, replayedCount: 0 })));
    }
  });
  const rec = recorder();
  const conn = connect(daemon, rec);
  try {
    conn.start();
    await until(() => daemon.requests.length === 2 && conn.status === 'live', 2000, 'immediate reconnect');
    const r = rec.statuses.find(([s]) => s === 'reconnecting');
    assert.equal(r[1].delayMs, 0);
    assert.equal(daemon.requests[1].headers['last-event-id'], '1');
  } finally {
    conn.close();
    await daemon.close();
  }
});

test('401 is fatal: closed with the error, no reconnect loop', async () => {
  const daemon = await fakeDaemon((req, res) => {
    res.writeHead(401, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { kind: 'unauthorized', message: 'wrong token', hint: 'check the token' } }));
  });
  const rec = recorder();
  const conn = connect(daemon, rec);
  try {
    conn.start();
    await until(() => conn.status === 'closed');
    await sleep(100);
    assert.equal(daemon.requests.length, 1);
    const [status, detail] = rec.statuses.at(-1);
    assert.equal(status, 'closed');
    assert.equal(detail.reason, 'fatal');
    assert.ok(detail.error instanceof SwitchyardError);
    assert.equal(detail.error.kind, 'unauthorized');
    assert.equal(detail.error.status, 401);
    assert.equal(detail.error.hint, 'check the token');
  } finally {
    conn.close();
    await daemon.close();
  }
});

test('503 and network errors back off and retry', async () => {
  const daemon = await fakeDaemon((req, res, n) => {
    if (n < 2) {
      res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '0' });
      return res.end(JSON.stringify({ error: { kind: 'internal', message: 'busy' } }));
    }
    if (n === 2) return res.destroy(); // no answer
    sseHead(res);
    res.write(sse(snapshot(1)));
  });
  const rec = recorder();
  const conn = connect(daemon, rec);
  try {
    conn.start();
    await until(() => conn.status === 'live', 5000, 'live after retries');
    const reconnects = rec.statuses.filter(([s]) => s === 'reconnecting').map(([, d]) => d);
    assert.deepEqual(reconnects.map((d) => d.attempt), [1, 2, 3]);
    assert.equal(reconnects[0].error.kind, 'internal');
    assert.equal(reconnects[0].error.status, 503);
    assert.equal(reconnects[2].error.kind, 'network_error');
    for (const d of reconnects) assert.ok(d.delayMs >= 0 && d.delayMs <= 40, `capped by maxMs: ${d.delayMs}`);
  } finally {
    conn.close();
    await daemon.close();
  }
});

test('a stream that ends after the session ended closes for good', async () => {
  const daemon = await fakeDaemon((req, res) => {
    sseHead(res);
    res.write(sse(snapshot(1)));
    res.end(sse(frame('session_closed', { reason: 'closed_by_client', closedBy: 'c_1' }, 2)));
  });
  const rec = recorder();
  const conn = connect(daemon, rec);
  try {
    conn.start();
    await until(() => conn.status === 'closed');
    await sleep(50);
    assert.equal(daemon.requests.length, 1);
    assert.deepEqual(rec.statuses.at(-1), ['closed', { reason: 'session_ended' }]);
    assert.equal(conn.view.state().lifecycle.state, 'closed');
  } finally {
    conn.close();
    await daemon.close();
  }
});

test('byte-at-a-time delivery gives the same view; onState at most once per chunk', async () => {
  const body =
    '\uFEFFretry: 5\r\n\r\n' +
    sse(snapshot(0)) +
    [chunk('h\u00e9llo ', 1), chunk('w\u00f6rld \u{1F600}', 2), chunk('!', 3)].map(sse).join('').replaceAll('\n', '\r\n');
  const bytes = Buffer.from(body, 'utf8');
  const daemon = await fakeDaemon(async (req, res) => {
    sseHead(res);
    for (let i = 0; i < bytes.length; i++) {
      res.write(bytes.subarray(i, i + 1));
      if (i % 40 === 0) await sleep(1);
    }
  });
  const rec = recorder();
  const conn = connect(daemon, rec);
  try {
    conn.start();
    await until(() => conn.lastEventId === 3, 10000, 'all frames');
    assert.equal(conn.view.state().transcript[0].text, 'h\u00e9llo w\u00f6rld \u{1F600}!');
    assert.equal(rec.frames.length, 4);
    assert.ok(rec.states.length <= rec.frames.length);
    const whole = new SessionView();
    for (const [f] of rec.frames) whole.apply(f);
    assert.equal(whole.stateJson(), conn.view.stateJson());
  } finally {
    conn.close();
    await daemon.close();
  }
});

test('close() during a backoff wait and before start', async () => {
  const daemon = await fakeDaemon((req, res) => {
    res.writeHead(503);
    res.end();
  });
  const rec = recorder();
  const conn = connect(daemon, rec, { backoff: { initialMs: 60000, maxMs: 60000 } });
  try {
    conn.start();
    await until(() => conn.status === 'reconnecting');
    conn.close();
    assert.deepEqual(rec.names(), ['connecting', 'reconnecting', 'closed']);
    await sleep(50);
    assert.equal(daemon.requests.length, 1);
    const idle = connect(daemon, recorder());
    idle.close();
    assert.equal(idle.status, 'closed');
  } finally {
    conn.close();
    await daemon.close();
  }
});

test('callbacks that throw do not break the stream', async () => {
  const daemon = await fakeDaemon((req, res) => {
    sseHead(res);
    res.write(sse(snapshot(0)));
    res.write(sse(chunk('a', 1)));
  });
  const errors = [];
  const original = console.error;
  console.error = (...args) => errors.push(args);
  const conn = new Connection({
    baseUrl: daemon.url,
    token: 't',
    sessionId: 's',
    clientId: 'c',
    onFrame: () => {
      throw new Error('user bug');
    },
    onState: () => {
      throw new Error('user bug 2');
    },
  });
  try {
    conn.start();
    await until(() => conn.lastEventId === 1);
    assert.equal(conn.status, 'live');
    assert.ok(errors.some(([m]) => /onFrame/.test(m)));
  } finally {
    console.error = original;
    conn.close();
    await daemon.close();
  }
});

test('bad options are TypeErrors', () => {
  assert.throws(() => new Connection({ baseUrl: 'http://x', sessionId: 's' }), TypeError);
  assert.throws(() => new Connection({ baseUrl: 'http://x', sessionId: 's', clientId: 'c', view: {} }), TypeError);
  assert.throws(() => new Connection({ baseUrl: 'http://x', sessionId: 's', clientId: 'c', onFrame: 5 }), TypeError);
  assert.throws(() => new Connection(), TypeError);
});
