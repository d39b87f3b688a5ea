// Test helpers: a scriptable fake daemon on 127.0.0.1:0.
import { createServer } from 'node:http';

/**
 * Starts a server; `handler(req, res, n)` gets each request (n counts from 0)
 * with `req.body` already read. Returns { url, requests, close }.
 */
export async function fakeDaemon(handler) {
  const requests = [];
  const sockets = new Set();
  const server = createServer(async (req, res) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    req.body = body;
    const n = requests.length;
    requests.push({ method: req.method, url: req.url, headers: req.headers, body });
    try {
      await handler(req, res, n);
    } catch (e) {
      res.destroy(e);
    }
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise((r) => {
        for (const s of sockets) s.destroy();
        server.close(r);
      }),
  };
}

/** Writes an SSE response head. */
export function sseHead(res) {
  res.writeHead(200, {
    'content-type': 'text/event-stream',
    'x-accel-buffering': 'no',
    'cache-control': 'no-cache',
  });
}

/** One SSE event for a frame object. */
export function sse(frame) {
  const id = frame.id !== undefined && frame.id !== null ? `id: ${frame.id}\n` : '';
  return `${id}event: ${frame.type}\ndata: ${JSON.stringify(frame)}\n\n`;
}

/** A frame. */
export function frame(type, data, id) {
  const f = { v: 1, type, data, _meta: { serverTimestamp: 1763769600000 } };
  if (id !== undefined) f.id = id;
  return f;
}

/** An agent text chunk. */
export function chunk(text, id, promptId = 'p1') {
  return {
    ...frame('session_update', { update: { sessionUpdate: 'agent_message_chunk', content: { type: 'text', text } } }, id),
    promptId,
  };
}

/** A snapshot of the empty view at `lastEventId`. */
export function snapshot(lastEventId, view = {}) {
  return frame('session_snapshot', { view, lastEventId });
}

/** Resolves when `predicate()` is true (polls), or rejects after `ms`. */
export async function until(predicate, ms = 5000, what = 'condition') {
  const start = Date.now();
  // `predicate` may be async (e.g. a request to the daemon).
  while (!(await predicate())) {
    if (Date.now() - start > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
