// Client against a fake daemon: routes, headers, bodies, errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Client, SwitchyardError } from '../node.js';
import { fakeDaemon } from './helpers.js';

function json(res, status, body, headers = {}) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

test('routes, headers and bodies', async () => {
  const daemon = await fakeDaemon((req, res) => {
    const u = req.url;
    if (u === '/health') return json(res, 200, { status: 'ok', version: '0.1.0', protocolVersion: 1 });
    if (u === '/capabilities') return json(res, 200, { protocolVersion: 1 });
    if (u === '/session' && req.method === 'POST')
      return json(res, 201, { sessionId: 's 1', clientId: 'c_creator', role: 'control' });
    if (u === '/session' && req.method === 'GET') return json(res, 200, { sessions: [{ sessionId: 's 1' }] });
    if (u === '/session/s%201/attach') return json(res, 200, { sessionId: 's 1', clientId: 'c_obs', role: 'observer' });
    if (u === '/session/s%201/prompt') return json(res, 202, { promptId: 'p_1', position: 0, duplicate: false });
    if (u === '/session/s%201/cancel') return json(res, 200, { cancelled: true });
    if (u.startsWith('/session/s%201/permission/')) return json(res, 200, { requestId: 'r/1', outcome: JSON.parse(req.body).outcome });
    if (u === '/session/s%201' && req.method === 'DELETE') return json(res, 200, { sessionId: 's 1', status: 'closed' });
    if (u === '/session/s%201') return json(res, 200, { sessionId: 's 1' });
    return json(res, 404, { error: { kind: 'session_not_found', message: 'nope' } });
  });
  try {
    const client = new Client({ baseUrl: daemon.url + '/', token: 'sekrit' });
    assert.equal(client.baseUrl, daemon.url);
    assert.deepEqual(await client.health(), { status: 'ok', version: '0.1.0', protocolVersion: 1 });
    assert.equal((await client.capabilities()).protocolVersion, 1);
    const created = await client.createSession({ agent: 'demo', cwd: '/tmp' });
    assert.equal(created.clientId, 'c_creator');
    assert.equal(client.clientIdFor('s 1'), 'c_creator');
    assert.deepEqual(await client.listSessions(), [{ sessionId: 's 1' }]);
    assert.deepEqual(await client.getSession('s 1'), { sessionId: 's 1' });
    assert.equal((await client.prompt('s 1', 'hello')).promptId, 'p_1');
    await client.prompt('s 1', [{ type: 'text', text: 'a' }], 'p_x');
    assert.deepEqual(await client.cancel('s 1'), { cancelled: true });
    await client.choose('s 1', 'r/1', 'allow_once');
    await client.vote('s 1', 'r/1', 'cancelled');
    const attached = await client.attach('s 1', 'observer', 'watcher');
    assert.equal(attached.clientId, 'c_obs');
    assert.equal(client.clientId, 'c_obs');
    assert.deepEqual(await client.closeSession('s 1'), { sessionId: 's 1', status: 'closed' });

    const r = daemon.requests;
    for (const req of r) {
      assert.equal(req.headers.authorization, 'Bearer sekrit', req.url);
      assert.ok(!req.url.includes('sekrit'), 'token never in the URL');
    }
    const find = (m, u) => r.find((x) => x.method === m && x.url === u);
    assert.deepEqual(JSON.parse(find('POST', '/session').body), { agent: 'demo', cwd: '/tmp' });
    assert.equal(find('POST', '/session').headers['content-type'], 'application/json');
    const prompts = r.filter((x) => x.url === '/session/s%201/prompt');
    assert.deepEqual(JSON.parse(prompts[0].body), { prompt: [{ type: 'text', text: 'hello' }] });
    assert.deepEqual(JSON.parse(prompts[1].body), { prompt: [{ type: 'text', text: 'a' }], promptId: 'p_x' });
    assert.equal(prompts[0].headers['x-client-id'], 'c_creator');
    const votes = r.filter((x) => x.url === '/session/s%201/permission/r%2F1');
    assert.deepEqual(JSON.parse(votes[0].body), { outcome: { outcome: 'selected', optionId: 'allow_once' } });
    assert.deepEqual(JSON.parse(votes[1].body), { outcome: { outcome: 'cancelled' } });
    assert.deepEqual(JSON.parse(find('POST', '/session/s%201/attach').body), { role: 'observer', name: 'watcher' });
    // After attach, the session's requests use the newly issued id.
    assert.equal(find('DELETE', '/session/s%201').headers['x-client-id'], 'c_obs');
    assert.equal(find('GET', '/health').headers['x-client-id'], undefined);
  } finally {
    await daemon.close();
  }
});

test('daemon errors become SwitchyardError', async () => {
  const daemon = await fakeDaemon((req, res) => {
    if (req.url === '/session/s/prompt')
      return json(
        res,
        429,
        { error: { kind: 'prompt_queue_full', message: 'queue full', hint: 'wait' } },
        { 'retry-after': '3' },
      );
    if (req.url === '/session/s') {
      res.writeHead(502, { 'content-type': 'text/html' });
      return res.end('<html>bad gateway</html>');
    }
    return json(res, 404, { error: { kind: 'session_not_found', message: 'no session x' } });
  });
  try {
    const client = new Client({ baseUrl: daemon.url, token: 't', clientId: 'c' });
    const e1 = await client.prompt('s', 'x').then(() => null, (e) => e);
    assert.ok(e1 instanceof SwitchyardError);
    assert.ok(e1 instanceof Error);
    assert.equal(e1.name, 'SwitchyardError');
    assert.equal(e1.kind, 'prompt_queue_full');
    assert.equal(e1.status, 429);
    assert.equal(e1.message, 'queue full');
    assert.equal(e1.hint, 'wait');
    assert.equal(e1.retryAfter, 3);
    assert.ok(e1.stack.includes('SwitchyardError'));
    const e2 = await client.getSession('s').then(() => null, (e) => e);
    assert.equal(e2.kind, 'http_error');
    assert.equal(e2.status, 502);
    assert.match(e2.message, /bad gateway/);
    const e3 = await client.getSession('x').then(() => null, (e) => e);
    assert.equal(e3.kind, 'session_not_found');
    assert.equal(e3.hint, undefined);
    assert.equal(e3.retryAfter, undefined);
  } finally {
    await daemon.close();
  }
});

test('no answer is network_error', async () => {
  const daemon = await fakeDaemon(() => {});
  const url = daemon.url;
  await daemon.close(); // nothing listens there any more
  const client = new Client({ baseUrl: url, token: 't' });
  const e = await client.health().then(() => null, (e) => e);
  assert.ok(e instanceof SwitchyardError);
  assert.equal(e.kind, 'network_error');
  assert.equal(e.status, 0);
  assert.match(e.message, /ECONNREFUSED|fetch failed/);
});

test('bad arguments are TypeErrors', () => {
  assert.throws(() => new Client({}), TypeError);
  assert.throws(() => new Client({ baseUrl: 5 }), TypeError);
  const client = new Client({ baseUrl: 'http://127.0.0.1:1' });
  assert.throws(() => client.prompt('s', 42), TypeError);
  assert.throws(() => client.vote('s', 'r', 7), TypeError);
});
