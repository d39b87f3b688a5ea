//! Newline-delimited JSON over tokio byte streams, with flush barriers.
//!
//! The SDK's own outgoing queues are unbounded and give no signal when a
//! message has reached the wire. The demo agent needs one twice: `/flood`
//! must not outrun the reader (or memory grows with N), and `/crash` must
//! know its last chunk left the process before it exits. So every outgoing
//! line passes through a bounded queue to a writer we own, and the agent can
//! send a private *barrier* notification through the same FIFO path: when
//! the writer reaches it, everything sent before it has been flushed. The
//! barrier itself is swallowed and never reaches the client.

use std::collections::HashMap;
use std::io;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use agent_client_protocol::{Client, UntypedMessage, v1::ConnectionTo};
use futures::{Sink, Stream};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, BufWriter};
use tokio::sync::{mpsc, oneshot};

/// Lines queued between the SDK and the writer. Small, because the barrier
/// protocol (not this queue) is what bounds a flood.
const WRITER_QUEUE: usize = 256;

/// The private notification method used as a flush barrier.
const BARRIER_METHOD: &str = "_switchyard_demo/flush_barrier";

enum Outgoing {
    Line(String),
    Barrier(u64),
}

/// Flush barriers in flight, keyed by token.
#[derive(Default)]
pub(crate) struct Barriers {
    next: AtomicU64,
    state: Mutex<BarrierState>,
}

#[derive(Default)]
struct BarrierState {
    waiting: HashMap<u64, oneshot::Sender<()>>,
    closed: bool,
}

impl Barriers {
    /// Sends a barrier and returns a receiver that completes once every line
    /// sent before it has been flushed, or the writer has gone away.
    pub(crate) fn start(&self, cx: &ConnectionTo<Client>) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        let token = self.next.fetch_add(1, Ordering::Relaxed);
        {
            let mut state = self.state.lock().expect("barrier lock");
            if state.closed {
                // Dropping `tx` completes `rx` at once: nothing left to flush.
                return rx;
            }
            state.waiting.insert(token, tx);
        }
        let message = UntypedMessage::new(BARRIER_METHOD, json!({ "token": token }))
            .expect("JSON values serialise");
        if cx.send_notification(message).is_err() {
            self.state
                .lock()
                .expect("barrier lock")
                .waiting
                .remove(&token);
        }
        rx
    }

    /// Waits until everything sent so far has been flushed.
    pub(crate) async fn flush(&self, cx: &ConnectionTo<Client>) {
        // An error only means the writer is gone, which is as flushed as it gets.
        let _ = self.start(cx).await;
    }

    fn release(&self, token: u64) {
        let sender = self
            .state
            .lock()
            .expect("barrier lock")
            .waiting
            .remove(&token);
        if let Some(sender) = sender {
            let _ = sender.send(());
        }
    }

    fn close(&self) {
        let mut state = self.state.lock().expect("barrier lock");
        state.closed = true;
        state.waiting.clear();
    }
}

fn barrier_token(line: &str) -> Option<u64> {
    // Cheap substring test first: this runs for every outgoing line.
    if !line.contains(BARRIER_METHOD) {
        return None;
    }
    let value: Value = serde_json::from_str(line).ok()?;
    if value.get("method")?.as_str()? != BARRIER_METHOD || value.get("id").is_some() {
        return None;
    }
    value.get("params")?.get("token")?.as_u64()
}

/// The incoming half: one JSON-RPC message per non-blank line.
pub(crate) fn incoming_lines<R>(reader: R) -> impl Stream<Item = io::Result<String>> + Send
where
    R: AsyncRead + Unpin + Send + 'static,
{
    futures::stream::unfold(BufReader::new(reader).lines(), |mut lines| async move {
        loop {
            match lines.next_line().await {
                // Blank keep-alive lines are not JSON-RPC; skip rather than
                // answer them with parse errors.
                Ok(Some(line)) if line.trim().is_empty() => {}
                Ok(Some(line)) => return Some((Ok(line), lines)),
                Ok(None) => return None,
                Err(error) => return Some((Err(error), lines)),
            }
        }
    })
}

/// The outgoing half handed to the SDK, and the writer that drains it.
pub(crate) fn outgoing_lines() -> (
    impl Sink<String, Error = io::Error> + Send + 'static,
    LineWriterQueue,
) {
    let (tx, rx) = mpsc::channel(WRITER_QUEUE);
    let sink = futures::sink::unfold(tx, |tx: mpsc::Sender<Outgoing>, line: String| async move {
        let item = match barrier_token(&line) {
            Some(token) => Outgoing::Barrier(token),
            None => Outgoing::Line(line),
        };
        tx.send(item)
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "output writer stopped"))?;
        Ok(tx)
    });
    (sink, LineWriterQueue(rx))
}

/// The receiving end of [`outgoing_lines`].
pub(crate) struct LineWriterQueue(mpsc::Receiver<Outgoing>);

impl LineWriterQueue {
    /// Writes queued lines until the sink is dropped, flushing whenever the
    /// queue runs dry (so a burst costs one flush, not one per line) and at
    /// every barrier.
    pub(crate) async fn write_to<W>(self, writer: W, barriers: &Barriers) -> io::Result<()>
    where
        W: AsyncWrite + Unpin,
    {
        let result = Self::drain(self.0, writer, barriers).await;
        barriers.close();
        result
    }

    async fn drain<W>(
        mut rx: mpsc::Receiver<Outgoing>,
        writer: W,
        barriers: &Barriers,
    ) -> io::Result<()>
    where
        W: AsyncWrite + Unpin,
    {
        let mut out = BufWriter::with_capacity(64 * 1024, writer);
        let mut dirty = false;
        loop {
            let item = match rx.try_recv() {
                Ok(item) => item,
                Err(mpsc::error::TryRecvError::Empty) => {
                    if dirty {
                        out.flush().await?;
                        dirty = false;
                    }
                    match rx.recv().await {
                        Some(item) => item,
                        None => break,
                    }
                }
                Err(mpsc::error::TryRecvError::Disconnected) => break,
            };
            match item {
                Outgoing::Line(line) => {
                    out.write_all(line.as_bytes()).await?;
                    out.write_all(b"\n").await?;
                    dirty = true;
                }
                Outgoing::Barrier(token) => {
                    if dirty {
                        out.flush().await?;
                        dirty = false;
                    }
                    barriers.release(token);
                }
            }
        }
        out.flush().await?;
        out.shutdown().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn barrier_lines_are_recognised_and_others_are_not() {
        let line =
            format!(r#"{{"jsonrpc":"2.0","method":"{BARRIER_METHOD}","params":{{"token":7}}}}"#);
        assert_eq!(barrier_token(&line), Some(7));
        let echoed = format!(
            r#"{{"jsonrpc":"2.0","method":"session/update","params":{{"text":"{BARRIER_METHOD}"}}}}"#
        );
        assert_eq!(barrier_token(&echoed), None);
        assert_eq!(barrier_token(r#"{"jsonrpc":"2.0","method":"x"}"#), None);
    }
}
