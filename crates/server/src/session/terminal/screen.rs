//! The server-side screen of a terminal session.
//!
//! A late joiner should see what is on the terminal now, not a replay of
//! everything ever printed (a build log can be gigabytes). The daemon keeps
//! a terminal emulator (`vt100`) per session, fed with exactly the
//! `terminal_output` frames the bus publishes, in order, under the bus
//! lock ([`SnapshotExtra`]); so the screen in a snapshot is the screen as
//! of the snapshot's `lastEventId`, and the live frames that follow draw on
//! top of it without a gap or a doubled line.

use serde_json::{Map, Value, json};
use switchyard_core::Frame;

use crate::bus::SnapshotExtra;

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

impl SnapshotExtra for Screen {
    fn observe(&mut self, frame: &Frame) {
        let d = &frame.data;
        match frame.kind.as_str() {
            // An agent's terminal is not this screen.
            "terminal_output" if d.get("terminalId").is_none_or(Value::is_null) => {
                if let Some(text) = d.get("data").and_then(Value::as_str) {
                    self.process(text);
                }
            }
            "terminal_resized" => {
                let n = |k: &str| {
                    d.get(k)
                        .and_then(Value::as_u64)
                        .map(|v| v.min(u16::MAX as u64) as u16)
                };
                if let (Some(cols), Some(rows)) = (n("cols"), n("rows"))
                    && cols > 0
                    && rows > 0
                {
                    self.parser.set_size(nz(rows), nz(cols));
                }
            }
            "scrollback_cleared" => self.parser.screen_mut().clear_scrollback(),
            _ => {}
        }
    }

    fn extend(&mut self, data: &mut Map<String, Value>) {
        let (cols, rows) = self.size();
        let scrollback = self.scrollback_lines().join("\r\n");
        data.insert(
            "screen".into(),
            json!({
                "cols": cols,
                "rows": rows,
                "formatted": self.formatted(),
                "scrollback": scrollback,
            }),
        );
    }
}

fn nz(v: u16) -> std::num::NonZeroU16 {
    std::num::NonZeroU16::new(v).unwrap_or(std::num::NonZeroU16::MIN)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(data: &str) -> Frame {
        Frame::new("terminal_output", json!({ "data": data }))
    }

    #[test]
    fn the_snapshot_carries_the_screen_and_the_scrollback_tail() {
        let mut s = Screen::new(20, 3);
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
        assert_eq!(s.text(), "line 4\nline 5");

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
