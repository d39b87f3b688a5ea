//! The server-side screen of a terminal session.
//!
//! A late joiner should see what is on the terminal now, not a replay of
//! everything ever printed (a build log can be gigabytes). The daemon keeps
//! a terminal emulator (`vt100`) per session, fed with exactly the
//! `terminal_output` frames the bus publishes, in order: the bus hands
//! every frame to [`ScreenModel`] under its lock ([`SnapshotExtra`]), so
//! the screen in a snapshot is the screen as of the snapshot's
//! `lastEventId`, and the live frames that follow draw on top of it
//! without a gap or a doubled line.
//!
//! An emulator is slower than a PTY can produce (vt100 parses 65–100 MB/s
//! here), so it must not sit on the publishing path. The bus only appends
//! each frame's text to a backlog; a worker thread feeds the backlog to the
//! emulator; a snapshot first feeds it whatever the worker has not reached
//! yet, so it is exact. The worker makes a pass at most every 20 ms; when
//! more than [`SKIP_OVER`] piled up, it parses only the last [`SKIP_KEEP`]
//! bytes (everything before has scrolled far off the screen by then):
//! frames to clients are never skipped, only the model's work. The backlog
//! is bounded the same way if the worker falls [`BACKLOG_MAX`] behind.

use std::collections::VecDeque;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::{Map, Value, json};
use switchyard_core::Frame;

use crate::bus::SnapshotExtra;

/// When more output than this waits for the emulator, only its last
/// [`SKIP_KEEP`] bytes are parsed.
pub const SKIP_OVER: usize = 512 << 10;
/// See [`SKIP_OVER`]: several times the scrollback (1,000 lines).
pub const SKIP_KEEP: usize = 256 << 10;
/// The worker lets output pile up this long between passes, so under a
/// flood it parses a fraction of it instead of competing for a core with
/// the program and the clients. (Snapshots never wait for it: they catch
/// up themselves.)
const WORKER_PASS: std::time::Duration = std::time::Duration::from_millis(20);
/// The backlog never holds more output than this.
pub const BACKLOG_MAX: usize = 8 << 20;

/// Lines of scrollback the screen keeps (and a snapshot carries at most).
pub const SCROLLBACK_LINES: usize = 1000;

/// A terminal session's screen.
pub struct Screen {
    parser: vt100::Parser,
}

impl Screen {
    /// A blank screen of `cols` x `rows`.
    pub fn new(cols: u16, rows: u16) -> Screen {
        Screen {
            parser: vt100::Parser::new(nz(rows), nz(cols), SCROLLBACK_LINES),
        }
    }

    /// `(cols, rows)`.
    pub fn size(&self) -> (u16, u16) {
        let (rows, cols) = self.parser.screen().size();
        (cols.get(), rows.get())
    }

    /// The visible screen as escape sequences a terminal (xterm.js) can
    /// write to draw it: contents, attributes, cursor.
    pub fn formatted(&self) -> String {
        self.parser.screen().contents_formatted()
    }

    /// The visible screen as plain text, one line per row.
    pub fn text(&self) -> String {
        self.parser.screen().contents()
    }

    /// The scrollback (lines that scrolled off the top), oldest first, as
    /// plain text.
    pub fn scrollback_lines(&mut self) -> Vec<String> {
        let (cols, rows) = self.size();
        let screen = self.parser.screen_mut();
        // vt100 shows scrollback through a viewport offset: page through
        // it a screenful at a time, oldest first.
        screen.set_scrollback(usize::MAX);
        let mut offset = screen.scrollback();
        let mut lines = Vec::with_capacity(offset);
        while offset > 0 {
            screen.set_scrollback(offset);
            let take = offset.min(usize::from(rows));
            lines.extend(screen.rows(0, cols).take(take));
            offset -= take;
        }
        screen.set_scrollback(0);
        lines
    }

    /// Feeds output.
    pub fn process(&mut self, data: &str) {
        self.parser.process(data.as_bytes());
    }
}

impl Screen {
    /// Applies what `frame` does to the screen, at once (rebuilding a
    /// screen from a journal; live sessions go through [`ScreenModel`]).
    pub fn observe(&mut self, frame: &Frame) {
        if let Some(item) = Item::from_frame(frame) {
            self.apply(&item);
        }
    }

    fn apply(&mut self, item: &Item) {
        match item {
            Item::Output(text) => self.process(text),
            Item::Resize(cols, rows) => self.parser.set_size(nz(*rows), nz(*cols)),
            Item::ClearScrollback => self.parser.screen_mut().clear_scrollback(),
        }
    }

    /// The `screen` object of a snapshot.
    fn snapshot_json(&mut self) -> Value {
        let (cols, rows) = self.size();
        let scrollback = self.scrollback_lines().join("\r\n");
        json!({
            "cols": cols,
            "rows": rows,
            "formatted": self.formatted(),
            "scrollback": scrollback,
        })
    }
}

/// What changes the screen, in bus order.
#[derive(Debug)]
enum Item {
    Output(String),
    Resize(u16, u16),
    ClearScrollback,
}

impl Item {
    /// What the frame does to the screen, if anything.
    fn from_frame(frame: &Frame) -> Option<Item> {
        let d = &frame.data;
        match frame.kind.as_str() {
            // An agent's terminal is not this screen.
            "terminal_output" if d.get("terminalId").is_none_or(Value::is_null) => d
                .get("data")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .map(|t| Item::Output(t.to_string())),
            "terminal_resized" => {
                let n = |k: &str| {
                    d.get(k)
                        .and_then(Value::as_u64)
                        .map(|v| v.min(u64::from(u16::MAX)) as u16)
                        .filter(|v| *v > 0)
                };
                Some(Item::Resize(n("cols")?, n("rows")?))
            }
            "scrollback_cleared" => Some(Item::ClearScrollback),
            _ => None,
        }
    }

    fn output_len(&self) -> usize {
        match self {
            Item::Output(t) => t.len(),
            _ => 0,
        }
    }
}

#[derive(Default)]
struct Backlog {
    items: VecDeque<Item>,
    output_bytes: usize,
}

impl Backlog {
    fn push(&mut self, item: Item) {
        self.output_bytes += item.output_len();
        self.items.push_back(item);
        if self.output_bytes > BACKLOG_MAX {
            self.skip_to(SKIP_KEEP);
        }
    }

    /// Drops the oldest output (whole chunks) until at most `keep` bytes
    /// of it are left; resizes and clears stay, in order.
    fn skip_to(&mut self, keep: usize) {
        let mut drop = self.output_bytes.saturating_sub(keep);
        self.items.retain(|item| {
            let len = item.output_len();
            if len > 0 && drop > 0 {
                drop = drop.saturating_sub(len);
                return false;
            }
            true
        });
        self.output_bytes = self.items.iter().map(Item::output_len).sum();
    }

    fn take(&mut self) -> VecDeque<Item> {
        self.output_bytes = 0;
        std::mem::take(&mut self.items)
    }
}

/// Lock order: `screen` before `backlog`, everywhere.
struct Shared {
    screen: Mutex<Screen>,
    backlog: Mutex<Backlog>,
}

impl Shared {
    /// Feeds the emulator everything waiting (skipping ahead first when a
    /// lot is), holding the screen lock throughout, so a snapshot that
    /// takes the screen lock next sees all of it applied.
    fn catch_up(&self) -> std::sync::MutexGuard<'_, Screen> {
        let mut screen = self.screen.lock().unwrap_or_else(PoisonError::into_inner);
        let items = {
            let mut backlog = self.backlog.lock().unwrap_or_else(PoisonError::into_inner);
            if backlog.output_bytes > SKIP_OVER {
                backlog.skip_to(SKIP_KEEP);
            }
            backlog.take()
        };
        for item in &items {
            screen.apply(item);
        }
        screen
    }
}

/// A terminal session's screen model: the bus's [`SnapshotExtra`].
pub struct ScreenModel {
    shared: Arc<Shared>,
    /// Wakes the worker (capacity 1: wake-ups coalesce); dropped when the
    /// session ends, which ends the worker.
    wake: Option<SyncSender<()>>,
}

impl ScreenModel {
    /// A blank `cols` x `rows` screen and its worker thread.
    pub fn new(cols: u16, rows: u16) -> ScreenModel {
        ScreenModel::from_screen(Screen::new(cols, rows))
    }

    /// A model that starts from `screen` (a restored session's).
    pub fn from_screen(screen: Screen) -> ScreenModel {
        let shared = Arc::new(Shared {
            screen: Mutex::new(screen),
            backlog: Mutex::new(Backlog::default()),
        });
        let (wake, woken) = sync_channel(1);
        let worker = Arc::clone(&shared);
        let spawned = std::thread::Builder::new()
            .name("terminal-screen".into())
            .spawn(move || work(&worker, &woken));
        let wake = match spawned {
            Ok(_) => Some(wake),
            Err(e) => {
                // Snapshots still catch up on their own.
                tracing::warn!("no screen worker thread: {e}");
                None
            }
        };
        ScreenModel { shared, wake }
    }
}

fn work(shared: &Shared, woken: &Receiver<()>) {
    while woken.recv().is_ok() {
        drop(shared.catch_up());
        std::thread::sleep(WORKER_PASS);
    }
}

impl SnapshotExtra for ScreenModel {
    fn observe(&mut self, frame: &Frame) {
        if matches!(frame.kind.as_str(), "session_closed" | "session_died") {
            // Nothing more will be drawn: let the worker go.
            self.wake = None;
            return;
        }
        let Some(item) = Item::from_frame(frame) else {
            return;
        };
        self.shared
            .backlog
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(item);
        if let Some(wake) = &self.wake {
            let _ = wake.try_send(());
        }
    }

    fn extend(&mut self, data: &mut Map<String, Value>) {
        let screen = self.shared.catch_up().snapshot_json();
        data.insert("screen".into(), screen);
    }
}

fn nz(v: u16) -> std::num::NonZeroU16 {
    std::num::NonZeroU16::new(v).unwrap_or(std::num::NonZeroU16::MIN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backlog_beyond_its_bound_keeps_the_newest_output_and_every_resize() {
        let mut b = Backlog::default();
        let chunk = "y".repeat(64 * 1024);
        b.push(Item::Resize(100, 30));
        for _ in 0..(BACKLOG_MAX / chunk.len() + 1) {
            b.push(Item::Output(chunk.clone()));
        }
        assert!(b.output_bytes <= SKIP_KEEP);
        assert!(matches!(b.items.front(), Some(Item::Resize(100, 30))));
        assert_eq!(
            b.output_bytes,
            b.items.iter().map(Item::output_len).sum::<usize>()
        );
    }

    fn out(data: &str) -> Frame {
        Frame::new("terminal_output", json!({ "data": data }))
    }

    #[test]
    fn the_snapshot_carries_the_screen_and_the_scrollback_tail() {
        let mut s = ScreenModel::new(20, 3);
        for i in 0..6 {
            s.observe(&out(&format!("line {i}\r\n")));
        }
        s.observe(&Frame::new(
            "terminal_output",
            json!({ "data": "not mine", "terminalId": "t1" }),
        ));
        let mut data = Map::new();
        s.extend(&mut data);
        let screen = &data["screen"];
        assert_eq!(
            (screen["cols"].clone(), screen["rows"].clone()),
            (json!(20), json!(3))
        );
        assert_eq!(screen["scrollback"], "line 0\r\nline 1\r\nline 2\r\nline 3");
        assert!(screen["formatted"].as_str().unwrap().contains("line 5"));
        assert_eq!(s.shared.catch_up().text(), "line 4\nline 5");

        s.observe(&Frame::new("scrollback_cleared", json!({})));
        s.observe(&Frame::new(
            "terminal_resized",
            json!({"cols": 40, "rows": 10}),
        ));
        let mut data = Map::new();
        s.extend(&mut data);
        assert_eq!(data["screen"]["scrollback"], "");
        assert_eq!(data["screen"]["cols"], 40);
    }
}
