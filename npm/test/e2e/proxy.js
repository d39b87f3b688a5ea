// A TCP proxy (node:net) between the SDK and the daemon that can kill the
// event-stream connections on demand.
//
// It listens on [::1] with the daemon's own port number and forwards to
// 127.0.0.1:<port>: the daemon only accepts a Host naming itself
// (127.0.0.1:<port>, localhost:<port>, [::1]:<port>; DNS-rebinding defence),
// so a proxy on another port would be refused with 403 forbidden_origin
// unless it rewrote HTTP. Clients use `proxy.url` (http://[::1]:<port>).
//
// It reads the request heads going up to know which connections carry
// `GET /session/{id}/events` (and records their Last-Event-ID in
// `stats.events`), and can:
// - `dropStreams()`: reset every live event-stream connection now;
// - `dropStreamsWhen(text)`: reset them as soon as `text` passes down one
//   of them (a content-defined point: "mid-turn" without timing);
// - `block()` / `unblock()`: reset them and hold every new connection
//   (unanswered, its bytes kept) until `unblock()` forwards them.
import net from 'node:net';

export async function startProxy(port, targetHost = '127.0.0.1') {
  const conns = new Set();
  let held = [];
  let blocked = false;
  let trigger = null;
  const stats = { accepted: 0, eventRequests: 0, dropped: 0, events: [] };

  const drop = () => {
    let n = 0;
    for (const c of conns) {
      if (!c.events) continue;
      n++;
      c.kill();
    }
    stats.dropped += n;
    return n;
  };

  const server = net.createServer((client) => {
    stats.accepted++;
    const conn = { client, upstream: null, events: false, tail: '', pending: [] };
    conns.add(conn);
    conn.kill = () => {
      conns.delete(conn);
      if (!client.destroyed) client.resetAndDestroy();
      conn.upstream?.destroy();
    };
    client.on('data', (d) => {
      // Request lines going up: is this connection an event stream now?
      const m = /^(GET|POST|DELETE|OPTIONS|PUT|HEAD) (\S+) HTTP\/1\.[01]\r?$/m.exec(d.toString('latin1'));
      if (m) {
        conn.events = m[1] === 'GET' && /^\/session\/[^/]+\/events(\?|$)/.test(m[2]);
        if (conn.events) {
          stats.eventRequests++;
          const id = /^last-event-id:[ \t]*(\S*)\r?$/im.exec(d.toString('latin1'));
          stats.events.push({ path: m[2], lastEventId: id ? id[1] : null });
        }
      }
      if (conn.upstream) conn.upstream.write(d);
      else conn.pending.push(d);
    });
    client.on('error', () => {});
    client.on('close', () => {
      conns.delete(conn);
      conn.upstream?.destroy();
    });
    conn.open = () => {
      if (client.destroyed) return;
      const up = net.connect(port, targetHost);
      conn.upstream = up;
      for (const d of conn.pending) up.write(d);
      conn.pending = [];
      up.on('data', (d) => {
        if (client.destroyed) return;
        client.write(d);
        if (conn.events && trigger) {
          // The text may straddle two reads: search the end of the last one too.
          const seen = conn.tail + d.toString('latin1');
          conn.tail = seen.slice(-trigger.text.length);
          if (seen.includes(trigger.text)) {
            const t = trigger;
            trigger = null;
            t.resolve(drop());
          }
        }
      });
      up.on('error', () => {});
      up.on('close', () => {
        if (!client.destroyed) client.destroy();
      });
    };
    if (blocked) held.push(conn);
    else conn.open();
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '::1', resolve);
  });
  return {
    url: `http://[::1]:${port}`,
    stats,
    /** Resets every live event-stream connection; returns how many. */
    dropStreams: drop,
    /** Resolves (with the count) once `text` went down an event stream and the streams were reset. */
    dropStreamsWhen: (text) =>
      new Promise((resolve) => {
        trigger = { text, resolve };
      }),
    /** Resets the event streams and holds new connections until `unblock()`. */
    block: () => {
      blocked = true;
      return drop();
    },
    /** Forwards the held connections (and every later one). */
    unblock: () => {
      blocked = false;
      const h = held;
      held = [];
      for (const c of h) c.open();
      return h.length;
    },
    /** Connections waiting in `block()`. */
    heldCount: () => held.filter((c) => !c.client.destroyed).length,
    close: () =>
      new Promise((resolve) => {
        for (const c of conns) c.kill();
        held = [];
        server.close(() => resolve());
      }),
  };
}
