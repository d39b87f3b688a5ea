// The end-to-end driver: the same code runs in Node (imported by
// e2e-node.test.js with the Node entry) and in the browser pages (exposed as
// `window.e2e`, called by e2e-browser.test.js through page.evaluate).
// Arguments and results are plain JSON.
//
// Connections record every callback; `wait(name, cond, arg, ms)` resolves
// when a condition holds, checked on every status/state callback (no
// polling), and rejects after `ms`.

/** The agent's text in a view state. */
export function agentText(state) {
  return state.transcript
    .filter((e) => e.kind === 'message' && e.role === 'agent')
    .map((e) => e.text)
    .join('');
}

function errorJson(e) {
  if (e === undefined || e === null) return undefined;
  return { name: e.name, kind: e.kind, status: e.status, message: String(e.message ?? e) };
}

function detailJson(d) {
  if (!d || typeof d !== 'object') return d;
  const out = {};
  for (const [k, v] of Object.entries(d)) out[k] = k === 'error' ? errorJson(v) : v;
  return out;
}

const CONTROL = new Set([
  'session_snapshot',
  'state_resync_required',
  'replay_complete',
  'slow_client_warning',
  'client_evicted',
  'stream_error',
]);

export function createDriver(sdk) {
  const { Client, Connection, SessionView } = sdk;
  const clients = new Map();
  const conns = new Map();

  const conditions = {
    status: (c, s) => c.conn.status === s,
    statusCount: (c, [s, n]) => c.statuses.filter((x) => x.status === s).length >= n,
    turnsEnded: (c, n) => !!c.state && c.state.turn.turnsEnded >= n,
    pending: (c, n) => !!c.state && c.state.permissions.pending.length >= n,
    resolved: (c, n) => !!c.state && c.state.permissions.resolved.length >= n,
    lastEventId: (c, n) => c.view.lastEventId >= n,
  };

  const check = (c) => {
    for (const w of [...c.waiters]) {
      let ok = false;
      try {
        ok = conditions[w.cond](c, w.arg);
      } catch (e) {
        ok = false;
      }
      if (ok) {
        c.waiters.delete(w);
        w.done();
      }
    }
  };

  const client = (name) => {
    const c = clients.get(name);
    if (!c) throw new Error(`no client ${name}`);
    return c;
  };
  const get = (name) => {
    const c = conns.get(name);
    if (!c) throw new Error(`no connection ${name}`);
    return c;
  };

  const call = async (f) => {
    try {
      return await f();
    } catch (e) {
      throw new Error(`${e.name}: ${e.kind ?? ''} ${e.status ?? ''} ${e.message}`);
    }
  };

  return {
    newClient(name, options) {
      clients.set(name, new Client(options));
    },
    health: (name) => call(() => client(name).health()),
    createSession: (name, options) =>
      call(async () => {
        const s = await client(name).createSession(options);
        return { sessionId: s.sessionId, clientId: s.clientId, role: s.role, cwd: s.cwd };
      }),
    prompt: (name, sessionId, text) => call(() => client(name).prompt(sessionId, text)),
    allow: (name, sessionId, requestId, optionId) =>
      call(() => client(name).allow(sessionId, requestId, optionId)),

    /**
     * Starts a Connection reducing into a new SessionView. `options`:
     * { baseUrl, token, sessionId, clientId, lastEventId?, backoff? }.
     */
    connect(name, options) {
      const view = new SessionView();
      const c = {
        view,
        state: null,
        statuses: [],
        control: [],
        frames: 0,
        outcomes: {},
        atDrop: null,
        closeCalled: false,
        afterClose: [],
        waiters: new Set(),
      };
      const afterClose = (what) => c.closeCalled && c.afterClose.push(what);
      c.conn = new Connection({
        ...options,
        view,
        onStatus: (status, detail) => {
          const entry = { status, detail: detailJson(detail) };
          if (c.closeCalled) c.afterClose.push({ onStatus: entry });
          c.statuses.push(entry);
          if (status === 'reconnecting' && c.atDrop === null) {
            const s = view.state();
            c.atDrop = { lastEventId: view.lastEventId, agentText: agentText(s) };
          }
          check(c);
        },
        onFrame: (frame, outcome) => {
          afterClose({ onFrame: frame.type });
          c.frames++;
          c.outcomes[outcome] = (c.outcomes[outcome] ?? 0) + 1;
          if (CONTROL.has(frame.type)) {
            c.control.push({
              type: frame.type,
              outcome,
              data: frame.type === 'session_snapshot' ? { lastEventId: frame.data.lastEventId } : frame.data,
            });
          }
        },
        onState: (state) => {
          afterClose({ onState: true });
          c.state = state;
          check(c);
        },
      });
      conns.set(name, c);
      c.conn.start();
      return c.conn.status;
    },

    wait(name, cond, arg, ms = 10000) {
      const c = get(name);
      if (!conditions[cond]) throw new Error(`unknown condition ${cond}`);
      return new Promise((resolve, reject) => {
        const w = { cond, arg };
        const timer = setTimeout(() => {
          c.waiters.delete(w);
          const s = c.state;
          reject(
            new Error(
              `${name}: timed out after ${ms} ms waiting for ${cond} ${JSON.stringify(arg)}; status ${c.conn.status}, ` +
                `lastEventId ${c.view.lastEventId}, turnsEnded ${s?.turn.turnsEnded}, statuses ${JSON.stringify(
                  c.statuses.map((x) => x.status),
                )}`,
            ),
          );
        }, ms);
        w.done = () => {
          clearTimeout(timer);
          resolve(true);
        };
        w.cancel = (why) => {
          clearTimeout(timer);
          reject(new Error(`${name}: ${why} while waiting for ${cond}`));
        };
        c.waiters.add(w);
        check(c);
      });
    },

    /** What a connection saw. `withState`: include view.state() and stateJson(). */
    info(name, withState = true) {
      const c = get(name);
      const out = {
        status: c.conn.status,
        lastEventId: c.conn.lastEventId,
        viewLastEventId: c.view.lastEventId,
        awaitingResync: c.view.awaitingResync,
        statuses: c.statuses,
        control: c.control,
        frames: c.frames,
        outcomes: c.outcomes,
        atDrop: c.atDrop,
        afterClose: c.afterClose,
      };
      if (withState) {
        out.state = c.view.state();
        out.stateJson = c.view.stateJson();
        out.agentText = agentText(out.state);
      }
      return out;
    },

    /** Closes a connection; returns the callbacks `close()` produced. */
    close(name) {
      const c = get(name);
      if (c.closeCalled) return [];
      c.closeCalled = true;
      c.conn.close();
      return c.afterClose.slice();
    },

    /** Closes every connection and cancels every wait (cleanup). */
    closeAll() {
      for (const [name, c] of conns) {
        for (const w of c.waiters) w.cancel('closeAll()');
        c.waiters.clear();
        if (!c.closeCalled) {
          c.closeCalled = true;
          try {
            c.conn.close();
          } catch {
            // a poisoned module: nothing more to close
          }
        }
        conns.delete(name);
      }
    },
  };
}
