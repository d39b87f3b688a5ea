// The end-to-end scenarios, shared by e2e-node.test.js (the driver in
// Node) and e2e-browser.test.js (the driver in a Chromium page). Each takes
// an `env`:
//   d(method, ...args)   calls the driver (pages/driver.js), JSON in/out;
//   daemon               a started daemon (daemon.js) for this test;
//   startDaemon(args)    starts another one (stopped by the test's cleanup);
//   defer(fn)            registers cleanup (run in reverse, even on failure).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TOKEN } from './daemon.js';
import { withDeadline } from './deadline.js';
import { startProxy } from './proxy.js';

/**
 * The session part of a connection's view: its JSON minus `stream`, which
 * records this client's own connection history (resyncs, replays,
 * evictions). Everything else — counters included, which count session
 * events only — must equal any other client's.
 */
export function sessionState(info) {
  const o = JSON.parse(info.stateJson);
  delete o.stream;
  return o;
}

const statusList = (info) => info.statuses.map((s) => s.status);

/** Creates the `ctl` client and a session; returns { sessionId, clientId, cwd }. */
async function newSession(env, daemon = env.daemon) {
  const { d } = env;
  await d('newClient', 'ctl', { baseUrl: daemon.url, token: TOKEN });
  const cwd = daemon.workspace();
  const s = await d('createSession', 'ctl', { cwd });
  assert.equal(s.role, 'control');
  return { ...s, cwd };
}

function connOptions(baseUrl, s, extra = {}) {
  return { baseUrl, token: TOKEN, sessionId: s.sessionId, clientId: s.clientId, ...extra };
}

/** A resume-friendly backoff (the daemon's `retry: 1000` still applies). */
const FAST = { backoff: { initialMs: 50, maxMs: 500 } };

/**
 * `close()` reports `closed` (reason `close`) and nothing else: no error, no
 * reconnect, no frame or state after it — checked again after a round trip
 * to the daemon.
 */
export async function assertCleanClose(env, name) {
  const { d } = env;
  const produced = await d('close', name);
  const expected = [{ onStatus: { status: 'closed', detail: { reason: 'close' } } }];
  assert.deepEqual(produced, expected, `${name}: close() callbacks`);
  await d('health', 'ctl');
  const info = await d('info', name, false);
  assert.deepEqual(info.afterClose, expected, `${name}: callbacks after close()`);
  assert.equal(info.status, 'closed');
}

/** 1. connect and stream a demo-agent turn. */
export async function echoTurn(env) {
  const { d, daemon } = env;
  const s = await newSession(env);
  await d('connect', 'a', connOptions(daemon.url, s));
  await d('wait', 'a', 'status', 'live');
  await d('prompt', 'ctl', s.sessionId, '/echo hello e2e');
  await d('wait', 'a', 'turnsEnded', 1);
  const info = await d('info', 'a');
  assert.deepEqual(statusList(info), ['connecting', 'live']);
  assert.equal(info.agentText, 'hello e2e');
  assert.equal(info.state.turn.running, false);
  assert.equal(info.state.turn.lastStopReason, 'end_turn');
  assert.equal(info.state.turn.lastError, null);
  assert.equal(info.control[0].type, 'session_snapshot');
  assert.equal(info.outcomes.applied, info.frames);
  await assertCleanClose(env, 'a');
}

/** 2. vote on a permission. */
export async function permissionVote(env) {
  const { d, daemon } = env;
  const s = await newSession(env);
  await d('connect', 'a', connOptions(daemon.url, s));
  await d('wait', 'a', 'status', 'live');
  await d('prompt', 'ctl', s.sessionId, '/write notes.txt hi');
  await d('wait', 'a', 'pending', 1);
  let info = await d('info', 'a');
  assert.equal(info.state.turn.running, true);
  const [request] = info.state.permissions.pending;
  assert.equal(request.originatorClientId, s.clientId);
  const allow = request.options.find((o) => o.kind === 'allow_once');
  assert.ok(allow, `an allow_once option in ${JSON.stringify(request.options)}`);
  const vote = await d('allow', 'ctl', s.sessionId, request.requestId, allow.optionId);
  assert.equal(vote.requestId, request.requestId);
  assert.equal(vote.voterClientId, s.clientId);
  await d('wait', 'a', 'resolved', 1);
  await d('wait', 'a', 'turnsEnded', 1);
  info = await d('info', 'a');
  assert.deepEqual(info.state.permissions.pending, []);
  const [resolved] = info.state.permissions.resolved;
  assert.equal(resolved.requestId, request.requestId);
  assert.equal(resolved.outcome, 'selected');
  assert.equal(resolved.optionId, allow.optionId);
  assert.equal(resolved.voterClientId, s.clientId);
  assert.equal(info.state.turn.lastStopReason, 'end_turn');
  assert.equal(readFileSync(join(s.cwd, 'notes.txt'), 'utf8'), 'hi');
  await assertCleanClose(env, 'a');
}

/** 3. kill the TCP connection mid-turn; resume gaplessly. */
export async function resumeAfterDrop(env) {
  const { d, daemon } = env;
  const proxy = await startProxy(daemon.port);
  env.defer(proxy.close);
  const s = await newSession(env);
  await d('connect', 'direct', connOptions(daemon.url, s));
  await d('connect', 'proxied', connOptions(proxy.url, s, FAST));
  await d('wait', 'direct', 'status', 'live');
  await d('wait', 'proxied', 'status', 'live');

  // Reset the proxied stream right after "chunk 500" went down it.
  const dropped = proxy.dropStreamsWhen('chunk 500\\n');
  await d('prompt', 'ctl', s.sessionId, '/flood 3000');
  assert.equal(await withDeadline(dropped, 15000, 'the proxy seeing chunk 500'), 1);
  await d('wait', 'proxied', 'statusCount', ['reconnecting', 1]);
  await d('wait', 'direct', 'turnsEnded', 1, 20000);
  const direct = await d('info', 'direct');
  await d('wait', 'proxied', 'lastEventId', direct.viewLastEventId, 15000);
  await d('wait', 'proxied', 'status', 'live');
  const proxied = await d('info', 'proxied');

  // It dropped mid-turn, then came back by itself with Last-Event-ID.
  const before = proxied.atDrop.agentText.split('\n').filter(Boolean).length;
  assert.ok(before > 0 && before < 3000, `${before} lines before the drop`);
  assert.deepEqual(statusList(proxied), ['connecting', 'live', 'reconnecting', 'live']);
  assert.ok(proxied.statuses[2].detail.error, 'the reset is reported as the reconnect reason');
  assert.deepEqual(
    proxied.control.map((c) => c.type),
    ['session_snapshot', 'replay_complete'],
    'a replay, no second snapshot, no resync',
  );
  assert.ok(proxied.control[1].data.replayedCount > 0);
  assert.equal(proxied.state.stream.resyncRequiredCount, 0);
  assert.deepEqual(
    proxy.stats.events.map((e) => e.lastEventId),
    [null, String(proxied.atDrop.lastEventId)],
    'the reconnect resumed with Last-Event-ID',
  );

  // Gapless: its session state equals the never-disconnected one's.
  assert.deepEqual(sessionState(proxied), sessionState(direct));
  const lines = proxied.agentText.split('\n');
  assert.equal(lines.pop(), '');
  assert.equal(lines.length, 3000);
  assert.equal(new Set(lines).size, 3000);
  assert.deepEqual(lines, Array.from({ length: 3000 }, (_, i) => `chunk ${i}`));
  assert.equal(proxied.state.counters.staleFrames, 0);
  await assertCleanClose(env, 'proxied');
  await assertCleanClose(env, 'direct');
}

/**
 * 4. resume past the ring (`--ring-size 64`): resync in band. Without the
 * journal, which would otherwise replay what the ring lost.
 */
export async function resumePastRing(env) {
  const { d } = env;
  const daemon = await env.startDaemon(['--ring-size', '64', '--no-journal']);
  const proxy = await startProxy(daemon.port);
  env.defer(proxy.close);
  const s = await newSession(env, daemon);
  await d('connect', 'direct', connOptions(daemon.url, s));
  await d('connect', 'proxied', connOptions(proxy.url, s, FAST));
  await d('wait', 'direct', 'status', 'live');
  await d('wait', 'proxied', 'status', 'live');

  // Down: its stream is reset and every reconnect is held by the proxy.
  assert.equal(proxy.block(), 1);
  await d('wait', 'proxied', 'statusCount', ['reconnecting', 1]);
  await d('prompt', 'ctl', s.sessionId, '/flood 1200');
  await d('wait', 'direct', 'turnsEnded', 1, 20000);
  const direct = await d('info', 'direct', false);
  const downAt = (await d('info', 'proxied', false)).atDrop.lastEventId;
  assert.ok(direct.viewLastEventId - downAt >= 1000, `${direct.viewLastEventId - downAt} frames while down`);

  proxy.unblock();
  await d('wait', 'proxied', 'statusCount', ['resyncing', 1], 15000);
  await d('wait', 'proxied', 'lastEventId', direct.viewLastEventId, 15000);
  await d('wait', 'proxied', 'status', 'live');
  const proxied = await d('info', 'proxied');
  const statuses = statusList(proxied);
  assert.deepEqual(statuses.slice(0, 3), ['connecting', 'live', 'reconnecting']);
  assert.deepEqual(statuses.slice(-2), ['resyncing', 'live'], statuses.join(' '));
  assert.ok(statuses.slice(2, -2).every((x) => x === 'reconnecting'), statuses.join(' '));
  assert.equal(proxied.statuses.at(-2).detail.reason, 'ring_evicted');
  assert.deepEqual(
    proxied.control.map((c) => c.type),
    ['session_snapshot', 'state_resync_required', 'session_snapshot'],
  );
  assert.deepEqual(proxy.stats.events.at(-1).lastEventId, String(downAt));
  const resync = proxied.control[1].data;
  assert.equal(resync.reason, 'ring_evicted');
  assert.equal(resync.lastDeliveredId, downAt);
  assert.ok(resync.earliestAvailableId > downAt);
  assert.equal(proxied.state.stream.resyncRequiredCount, 1);
  assert.equal(proxied.state.stream.awaitingResync, false);
  assert.equal(proxied.awaitingResync, false);

  // Its session state equals a fresh Connection's.
  await d('connect', 'fresh', connOptions(daemon.url, s));
  await d('wait', 'fresh', 'status', 'live');
  const fresh = await d('info', 'fresh');
  assert.equal(fresh.viewLastEventId, proxied.viewLastEventId);
  assert.deepEqual(sessionState(proxied), sessionState(fresh));
  assert.equal(proxied.agentText.split('\n').filter(Boolean).length, 1200);
  await assertCleanClose(env, 'proxied');
  await assertCleanClose(env, 'fresh');
  await assertCleanClose(env, 'direct');
}

/** 5. epoch_reset: a resume point from the future. */
export async function epochReset(env) {
  const { d, daemon } = env;
  const s = await newSession(env);
  await d('connect', 'direct', connOptions(daemon.url, s));
  await d('wait', 'direct', 'status', 'live');
  await d('prompt', 'ctl', s.sessionId, '/echo before the reset');
  await d('wait', 'direct', 'turnsEnded', 1);
  const last = (await d('info', 'direct', false)).viewLastEventId;

  const future = 1_000_000_000;
  await d('connect', 'future', connOptions(daemon.url, s, { lastEventId: future }));
  await d('wait', 'future', 'status', 'live');
  let info = await d('info', 'future');
  assert.deepEqual(statusList(info), ['connecting', 'resyncing', 'live']);
  assert.equal(info.statuses[0].detail.lastEventId, future);
  assert.equal(info.statuses[1].detail.reason, 'epoch_reset');
  assert.deepEqual(
    info.control.map((c) => c.type),
    ['state_resync_required', 'session_snapshot'],
  );
  assert.equal(info.control[0].data.reason, 'epoch_reset');
  assert.equal(info.control[0].data.lastDeliveredId, future);
  assert.equal(info.state.stream.resyncRequiredCount, 1);
  assert.equal(info.viewLastEventId, last, 'lastEventId moved down to the snapshot');
  assert.equal(info.lastEventId, last);

  await d('connect', 'fresh', connOptions(daemon.url, s));
  await d('wait', 'fresh', 'status', 'live');
  assert.deepEqual(sessionState(info), sessionState(await d('info', 'fresh')));

  // And it is live: the next turn reaches it like everyone else.
  await d('prompt', 'ctl', s.sessionId, '/echo after the reset');
  for (const n of ['future', 'fresh', 'direct']) await d('wait', n, 'turnsEnded', 2);
  info = await d('info', 'future');
  assert.equal(info.agentText, 'before the resetafter the reset');
  const fresh = await d('info', 'fresh');
  const direct = await d('info', 'direct');
  assert.deepEqual(sessionState(info), sessionState(fresh));
  assert.deepEqual(sessionState(info), sessionState(direct));
  for (const n of ['future', 'fresh', 'direct']) await assertCleanClose(env, n);
}
