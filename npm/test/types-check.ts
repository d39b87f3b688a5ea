// Compile-only usage sample for the public declarations (npm run check:types).
import init, {
  Client,
  Connection,
  SessionView,
  SwitchyardError,
  ready,
  sdkVersion,
  type ApplyOutcome,
  type ConnectionStatus,
  type Frame,
  type SessionViewState,
  type StatusDetail,
} from '../index.js';
import initFromUrl, { Client as Client2 } from '../init.js';

export async function sample(): Promise<void> {
  await init();
  await initFromUrl(new URL('https://example.invalid/switchyard_sdk_bg.wasm'));
  await ready();
  const version: string = sdkVersion();

  const view = new SessionView();
  const outcome: ApplyOutcome = view.apply('{"v":1,"type":"x"}');
  const frame: Frame = { v: 1, id: 1, type: 'turn_started', data: { promptId: 'p' } };
  view.apply(frame);
  const n: number = view.applyBatch([frame, '{}']);
  const state: SessionViewState = view.state();
  const text: string = state.transcript
    .map((e) => (e.kind === 'message' ? e.text : ''))
    .join('');
  const id: number = view.lastEventId + state.lastEventId;
  const gate: boolean = view.awaitingResync;
  const json: string = view.stateJson();

  const client = new Client({ baseUrl: 'http://127.0.0.1:7777', token: 't' });
  const created = await client.createSession({ agent: 'demo' });
  const clientId: string = created.clientId;
  await client.attach(created.sessionId, 'observer', 'me');
  const accepted = await client.prompt(created.sessionId, 'hi');
  const position: number = accepted.position;
  await client.prompt(created.sessionId, [{ type: 'text', text: 'hi' }], 'p_1');
  await client.vote(created.sessionId, 'r1', { outcome: 'selected', optionId: 'allow' });
  await client.vote(created.sessionId, 'r1', 'cancelled');
  await client.allow(created.sessionId, 'r1', 'allow');
  const sessions = await client.listSessions();
  const status: 'running' | 'died' | 'closed' = sessions[0].status;
  await client.cancel(created.sessionId);
  await client.closeSession(created.sessionId);

  try {
    await client.health();
  } catch (e) {
    if (e instanceof SwitchyardError) {
      const k: string = e.kind;
      const s: number = e.status;
      const h: string | undefined = e.hint;
      const r: number | undefined = e.retryAfter;
      void [k, s, h, r];
    }
  }

  const conn = new Connection({
    baseUrl: 'http://127.0.0.1:7777',
    token: 't',
    sessionId: created.sessionId,
    clientId,
    view,
    onStatus: (st: ConnectionStatus, detail: StatusDetail) => void [st, detail.error?.kind],
    onFrame: (f, o) => void [f.type, o],
    onState: (s) => void s.turn.running,
    backoff: { initialMs: 100, maxMs: 5000 },
  });
  conn.start();
  const st: ConnectionStatus = conn.status;
  const same: SessionView = conn.view;
  conn.close();
  const conn2 = client.connect(created.sessionId, { onState: () => {} });
  conn2.close();
  void new Client2({ token: 't' });
  void [version, outcome, n, text, id, gate, json, clientId, position, status, st, same];
}
