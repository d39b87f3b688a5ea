//! Incremental client-side parser for Server-Sent Events (`text/event-stream`).
//!
//! The WebAssembly SDK reads the stream through `fetch()` with a streamed body,
//! so bytes arrive in arbitrary chunks: a chunk may end in the middle of a
//! line, in the middle of a multi-byte UTF-8 character, inside the leading
//! byte order mark, or between the CR and LF of a CRLF line end. [`SseParser`]
//! keeps just enough state between [`SseParser::feed`] calls that the events
//! it produces never depend on where the chunks were split.
//!
//! Interpretation follows the WHATWG HTML "event stream interpretation"
//! rules: one leading BOM is skipped; lines end with LF, CR or CRLF; a blank
//! line dispatches the pending event; lines starting with `:` are comments;
//! `event`, `data`, `id` and `retry` are the only fields; an event whose data
//! buffer is empty is not dispatched; an incomplete event at end of stream is
//! discarded. Text is decoded per completed line with
//! [`String::from_utf8_lossy`], so invalid UTF-8 becomes U+FFFD exactly as the
//! spec's stream-wide decoder would (line ends are ASCII and never occur inside
//! a multi-byte sequence).
//!
//! Memory is bounded: a peer that never sends a line end, or sends one
//! enormous event, would otherwise make the parser buffer without limit. When
//! the current incomplete line plus the pending data buffer exceed the
//! configured limit, [`SseParser::feed`] reports [`SseError::BufferLimit`],
//! drops the offending event and skips to its end, and stays usable.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// Default cap, in bytes, on the current incomplete line plus the pending
/// event data (32 MiB).
pub const DEFAULT_MAX_BUFFER: usize = 32 * 1024 * 1024;

/// The UTF-8 byte order mark, skipped once at the very start of a stream.
const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];

/// After a line is processed, a line buffer whose capacity grew beyond this is
/// released instead of being kept for reuse, so one huge line does not pin
/// memory for the rest of the connection.
const KEEP_LINE_CAPACITY: usize = 64 * 1024;

/// One dispatched event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SseEvent {
    /// `event:` field, "message" when absent or empty.
    pub event: String,
    /// `data:` lines joined with '\n' (final trailing LF removed).
    pub data: String,
    /// The parser's last-event-id buffer at dispatch time ("" if none was ever
    /// set) — per spec this persists across events.
    pub id: String,
}

/// Errors reported by [`SseParser::feed`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SseError {
    /// A single line or the pending event grew past the configured cap.
    ///
    /// The offending event has been discarded (including the rest of its
    /// lines, up to the next blank line); the parser remains usable.
    BufferLimit {
        /// The configured cap, in bytes.
        limit: usize,
    },
}

impl fmt::Display for SseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SseError::BufferLimit { limit } => {
                write!(f, "SSE event exceeds the {limit}-byte buffer limit")
            }
        }
    }
}

impl core::error::Error for SseError {}

/// Incremental `text/event-stream` parser.
///
/// Feed it the body's chunks as they arrive with [`feed`](Self::feed), call
/// [`finish`](Self::finish) when the body ends, and [`reset`](Self::reset)
/// before parsing a new connection's body.
#[derive(Debug, Clone)]
pub struct SseParser {
    /// Cap on `line.len() + data.len()` (see [`SseError::BufferLimit`]).
    limit: usize,
    /// Bytes of the current, not yet terminated line (or a partial BOM).
    line: Vec<u8>,
    /// The spec's data buffer: each `data` value followed by '\n'.
    data: String,
    /// The spec's event type buffer.
    event_type: String,
    /// The spec's last event ID buffer.
    id: String,
    /// `id` as of the last blank line (the spec's "last event ID string"),
    /// restored by `finish`/`reset` so an id from an event that never
    /// completed is not used to resume.
    committed_id: String,
    /// `id` has been set since the last blank line.
    id_dirty: bool,
    /// Most recent valid `retry` value, in milliseconds.
    retry: Option<u64>,
    /// Number of comment lines seen.
    comments: u64,
    /// No byte of the current stream has been consumed yet, apart from a
    /// partial BOM held in `line`.
    at_stream_start: bool,
    /// The last line ended with CR: an LF arriving next completes a CRLF.
    pending_cr: bool,
    /// Skipping the remainder of an event that exceeded the limit.
    discarding: bool,
    /// While `discarding`: the current (skipped) line has at least one byte,
    /// so its line end is not a blank line.
    discard_line_nonempty: bool,
}

impl Default for SseParser {
    fn default() -> Self {
        Self::new()
    }
}

impl SseParser {
    /// A parser with the [`DEFAULT_MAX_BUFFER`] limit.
    #[must_use]
    pub fn new() -> Self {
        Self::with_max_buffer(DEFAULT_MAX_BUFFER)
    }

    /// A parser whose current line plus pending event data may hold at most
    /// `limit` bytes (see [`SseError::BufferLimit`]).
    #[must_use]
    pub fn with_max_buffer(limit: usize) -> Self {
        SseParser {
            limit,
            line: Vec::new(),
            data: String::new(),
            event_type: String::new(),
            id: String::new(),
            committed_id: String::new(),
            id_dirty: false,
            retry: None,
            comments: 0,
            at_stream_start: true,
            pending_cr: false,
            discarding: false,
            discard_line_nonempty: false,
        }
    }

    /// Feed the next chunk of bytes; dispatched events are pushed to `out`.
    ///
    /// The whole chunk is always consumed. If a line or the pending event
    /// exceeds the limit, that event is dropped (the rest of its lines are
    /// skipped up to the next blank line), parsing continues, and
    /// `Err(SseError::BufferLimit)` is returned at the end; `out` still holds
    /// every event dispatched from this chunk before and after the dropped one.
    ///
    /// # Errors
    ///
    /// [`SseError::BufferLimit`] if the current line plus the pending event
    /// data grew past the configured limit while consuming this chunk.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<SseEvent>) -> Result<(), SseError> {
        let mut input = chunk;
        if self.at_stream_start {
            input = self.skip_bom(input);
            if self.at_stream_start {
                // Every byte so far is a prefix of the BOM, held in `line`.
                return Ok(());
            }
        }

        let mut result = Ok(());
        while !input.is_empty() {
            if self.pending_cr {
                self.pending_cr = false;
                if input[0] == b'\n' {
                    input = &input[1..];
                    continue;
                }
            }
            match input.iter().position(|&b| b == b'\n' || b == b'\r') {
                Some(pos) => {
                    self.pending_cr = input[pos] == b'\r';
                    let segment = &input[..pos];
                    input = &input[pos + 1..];
                    if let Err(e) = self.end_line(segment, out) {
                        result = Err(e);
                    }
                }
                None => {
                    if self.discarding {
                        self.discard_line_nonempty = true;
                    } else if self.over_limit(input.len()) {
                        self.overflow(true);
                        result = Err(self.error());
                    } else {
                        self.line.extend_from_slice(input);
                    }
                    break;
                }
            }
        }
        result
    }

    /// End of stream: discards an incomplete event (per spec) and resets line
    /// state; returns nothing.
    ///
    /// An unterminated last line is dropped too. The last event id is rolled
    /// back to its value at the last blank line, so an `id:` that belonged to
    /// the discarded event is not used to resume. The next [`feed`](Self::feed)
    /// starts a new stream (a leading BOM is skipped again).
    pub fn finish(&mut self) {
        self.clear_stream_state();
    }

    /// Last event id seen (persists across events, as the spec's "last event
    /// ID buffer").
    ///
    /// After [`finish`](Self::finish) or [`reset`](Self::reset) this is the id
    /// in effect at the last blank line, i.e. the value to send as
    /// `Last-Event-ID` when reconnecting.
    #[must_use]
    pub fn last_event_id(&self) -> &str {
        &self.id
    }

    /// The most recent valid `retry:` value in milliseconds, if any.
    ///
    /// Values too large for a `u64` saturate to `u64::MAX`.
    #[must_use]
    pub fn retry(&self) -> Option<u64> {
        self.retry
    }

    /// Number of comment lines seen (heartbeats such as ": ping").
    #[must_use]
    pub fn comments_seen(&self) -> u64 {
        self.comments
    }

    /// Prepare for a new connection: clears the line, data and event-type
    /// buffers and the comment count, but keeps the configured limit, the
    /// last event id (a reconnect resumes from it; rolled back as in
    /// [`finish`](Self::finish)) and the `retry` value (the spec's
    /// reconnection time outlives a connection).
    pub fn reset(&mut self) {
        self.clear_stream_state();
        self.comments = 0;
    }

    /// Shared by `finish` and `reset`: drops everything tied to the current
    /// stream and rolls the id back to the last committed one.
    fn clear_stream_state(&mut self) {
        self.clear_line();
        self.data = String::new();
        self.event_type.clear();
        if self.id_dirty {
            self.id.clone_from(&self.committed_id);
            self.id_dirty = false;
        }
        self.at_stream_start = true;
        self.pending_cr = false;
        self.discarding = false;
        self.discard_line_nonempty = false;
    }

    /// Consumes a (possibly partial) leading BOM from `input`, keeping the
    /// matched bytes in `line` until the BOM is complete or ruled out. Returns
    /// the rest of `input`.
    fn skip_bom<'a>(&mut self, mut input: &'a [u8]) -> &'a [u8] {
        while let Some((&b, rest)) = input.split_first() {
            if b != BOM[self.line.len()] {
                // Not a BOM: the bytes held so far are ordinary line bytes.
                self.at_stream_start = false;
                return input;
            }
            self.line.push(b);
            input = rest;
            if self.line.len() == BOM.len() {
                self.line.clear();
                self.at_stream_start = false;
                return input;
            }
        }
        input
    }

    /// The error for this parser's limit.
    fn error(&self) -> SseError {
        SseError::BufferLimit { limit: self.limit }
    }

    /// Would adding `extra` bytes to the current line exceed the limit?
    fn over_limit(&self, extra: usize) -> bool {
        self.line
            .len()
            .saturating_add(extra)
            .saturating_add(self.data.len())
            > self.limit
    }

    /// Drops the pending line and event and skips to the end of the event.
    /// `mid_line`: the current line has not ended yet.
    fn overflow(&mut self, mid_line: bool) {
        self.clear_line();
        self.data = String::new();
        self.event_type.clear();
        self.discarding = true;
        self.discard_line_nonempty = mid_line;
    }

    /// Empties the line buffer, releasing it if it grew large.
    fn clear_line(&mut self) {
        if self.line.capacity() > KEEP_LINE_CAPACITY {
            self.line = Vec::new();
        } else {
            self.line.clear();
        }
    }

    /// A line end was found; `segment` is the part of the line in this chunk.
    fn end_line(&mut self, segment: &[u8], out: &mut Vec<SseEvent>) -> Result<(), SseError> {
        if self.discarding {
            let blank = !self.discard_line_nonempty && segment.is_empty();
            self.discard_line_nonempty = false;
            if blank {
                self.discarding = false;
                self.dispatch(out);
            }
            return Ok(());
        }
        if self.over_limit(segment.len()) {
            self.overflow(false);
            return Err(self.error());
        }
        if self.line.is_empty() {
            self.process_line(segment, out);
        } else {
            let mut line = core::mem::take(&mut self.line);
            line.extend_from_slice(segment);
            self.process_line(&line, out);
            self.line = line;
            self.clear_line();
        }
        Ok(())
    }

    /// Interprets one complete line (without its line end).
    fn process_line(&mut self, line: &[u8], out: &mut Vec<SseEvent>) {
        let (name, value) = match line.iter().position(|&b| b == b':') {
            None if line.is_empty() => {
                self.dispatch(out);
                return;
            }
            None => (line, &[][..]),
            Some(0) => {
                self.comments = self.comments.saturating_add(1);
                return;
            }
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
        };
        match name {
            b"event" => {
                self.event_type.clear();
                self.event_type.push_str(&String::from_utf8_lossy(value));
            }
            b"data" => {
                self.data.push_str(&String::from_utf8_lossy(value));
                self.data.push('\n');
            }
            // An id containing NUL is ignored, as is any other field.
            b"id" if !value.contains(&0) => {
                self.id.clear();
                self.id.push_str(&String::from_utf8_lossy(value));
                self.id_dirty = true;
            }
            // `retry` must be non-empty and all ASCII digits.
            b"retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                let ms = value.iter().fold(0u64, |acc, &d| {
                    acc.saturating_mul(10).saturating_add(u64::from(d - b'0'))
                });
                self.retry = Some(ms);
            }
            _ => {}
        }
    }

    /// A blank line: the spec's "dispatch the event".
    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        if self.id_dirty {
            self.committed_id.clone_from(&self.id);
            self.id_dirty = false;
        }
        if self.data.is_empty() {
            self.event_type.clear();
            return;
        }
        let mut data = core::mem::take(&mut self.data);
        data.pop();
        let event = if self.event_type.is_empty() {
            String::from("message")
        } else {
            core::mem::take(&mut self.event_type)
        };
        out.push(SseEvent {
            event,
            data,
            id: self.id.clone(),
        });
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use alloc::format;
    use alloc::string::ToString;
    use alloc::vec;
    use proptest::prelude::*;

    fn ev(event: &str, data: &str, id: &str) -> SseEvent {
        SseEvent {
            event: event.to_string(),
            data: data.to_string(),
            id: id.to_string(),
        }
    }

    fn msg(data: &str) -> SseEvent {
        ev("message", data, "")
    }

    /// Feeds `input` whole, then finishes.
    fn parse(input: &[u8]) -> Vec<SseEvent> {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        p.feed(input, &mut out).unwrap();
        p.finish();
        out
    }

    /// Feeds `input` in chunks of `size` bytes, then finishes.
    fn parse_chunked(input: &[u8], size: usize) -> Vec<SseEvent> {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        for chunk in input.chunks(size) {
            p.feed(chunk, &mut out).unwrap();
        }
        p.finish();
        out
    }

    /// Parses `input` whole and at every chunk size, asserting all agree.
    fn parse_all_ways(input: &[u8]) -> Vec<SseEvent> {
        let whole = parse(input);
        for size in 1..=input.len().max(1) {
            assert_eq!(parse_chunked(input, size), whole, "chunk size {size}");
        }
        whole
    }

    // ---- spec examples ----

    #[test]
    fn spec_multi_line_data() {
        assert_eq!(
            parse_all_ways(b"data: YHOO\ndata: +2\ndata: 10\n\n"),
            vec![msg("YHOO\n+2\n10")]
        );
    }

    #[test]
    fn spec_comment_and_id_example() {
        let input = b": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n\n";
        assert_eq!(
            parse_all_ways(input),
            vec![
                ev("message", "first event", "1"),
                ev("message", "second event", ""),
                ev("message", " third event", ""),
            ]
        );
    }

    #[test]
    fn spec_empty_data_and_eof() {
        assert_eq!(
            parse_all_ways(b"data\n\ndata\ndata\n\ndata:"),
            vec![msg(""), msg("\n")]
        );
    }

    #[test]
    fn spec_space_after_colon_optional() {
        assert_eq!(
            parse_all_ways(b"data:test\n\ndata: test\n\n"),
            vec![msg("test"), msg("test")]
        );
    }

    // ---- fields ----

    #[test]
    fn only_one_space_is_dropped() {
        assert_eq!(parse(b"data:   x \n\n"), vec![msg("  x ")]);
        assert_eq!(parse(b"data:\tx\n\n"), vec![msg("\tx")]);
    }

    #[test]
    fn split_at_first_colon_only() {
        assert_eq!(parse(b"data: a:b: c\n\n"), vec![msg("a:b: c")]);
    }

    #[test]
    fn event_type() {
        assert_eq!(
            parse_all_ways(b"event: update\ndata: 1\n\ndata: 2\n\n"),
            vec![ev("update", "1", ""), msg("2")]
        );
        // Empty type means "message"; the last `event` line wins.
        assert_eq!(parse(b"event: a\nevent:\ndata: x\n\n"), vec![msg("x")]);
        assert_eq!(parse(b"event\ndata: x\n\n"), vec![msg("x")]);
        assert_eq!(
            parse(b"event: a\nevent: b\ndata: x\n\n"),
            vec![ev("b", "x", "")]
        );
    }

    #[test]
    fn event_without_data_is_not_dispatched_and_type_is_cleared() {
        assert_eq!(
            parse_all_ways(b"event: ping\n\ndata: x\n\n"),
            vec![msg("x")]
        );
    }

    #[test]
    fn field_without_colon_has_empty_value() {
        assert_eq!(parse(b"data\n\n"), vec![msg("")]);
        let mut p = SseParser::new();
        let mut out = Vec::new();
        p.feed(b"id: 5\ndata: a\n\nid\ndata: b\n\n", &mut out)
            .unwrap();
        assert_eq!(out, vec![ev("message", "a", "5"), ev("message", "b", "")]);
        assert_eq!(p.last_event_id(), "");
    }

    #[test]
    fn unknown_fields_are_ignored() {
        assert_eq!(
            parse(b"foo: bar\nData: no\nDATA\n data: no\ndata: yes\n\n"),
            vec![msg("yes")]
        );
        // Only unknown fields: nothing to dispatch.
        assert_eq!(parse(b"foo: bar\n\n"), vec![]);
    }

    #[test]
    fn id_persists_across_events() {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        p.feed(
            b"id: 7\ndata: a\n\ndata: b\n\nid: 8\n\ndata: c\n\n",
            &mut out,
        )
        .unwrap();
        assert_eq!(
            out,
            vec![
                ev("message", "a", "7"),
                ev("message", "b", "7"),
                ev("message", "c", "8"),
            ]
        );
        assert_eq!(p.last_event_id(), "8");
    }

    #[test]
    fn id_with_nul_is_ignored() {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        p.feed(b"id: 1\n\nid: 2\0x\ndata: a\n\nid: \0\n\n", &mut out)
            .unwrap();
        assert_eq!(out, vec![ev("message", "a", "1")]);
        assert_eq!(p.last_event_id(), "1");
    }

    #[test]
    fn empty_id_clears() {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        p.feed(b"id: 1\n\nid:\ndata: a\n\n", &mut out).unwrap();
        assert_eq!(out, vec![msg("a")]);
        assert_eq!(p.last_event_id(), "");
    }

    #[test]
    fn retry_field() {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        assert_eq!(p.retry(), None);
        p.feed(b"retry: 3000\n", &mut out).unwrap();
        assert_eq!(p.retry(), Some(3000));
        for bad in [
            &b"retry: 12a\n"[..],
            b"retry: -5\n",
            b"retry: 1.5\n",
            b"retry:\n",
            b"retry\n",
            b"retry: \n",
            b"retry:  100\n",
            b"retry: 100 \n",
            b"retry: \xef\xbc\x91\n", // fullwidth digit one
        ] {
            p.feed(bad, &mut out).unwrap();
            assert_eq!(p.retry(), Some(3000), "{bad:?}");
        }
        p.feed(b"retry:0\n", &mut out).unwrap();
        assert_eq!(p.retry(), Some(0));
        p.feed(b"retry: 99999999999999999999999\n", &mut out)
            .unwrap();
        assert_eq!(p.retry(), Some(u64::MAX));
        assert!(out.is_empty());
    }

    #[test]
    fn comments_are_counted_and_ignored() {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        p.feed(
            b": ping\n:\n:data: x\n\ndata: a\n: mid\ndata: b\n\n",
            &mut out,
        )
        .unwrap();
        assert_eq!(out, vec![msg("a\nb")]);
        assert_eq!(p.comments_seen(), 4);
        // A comment split across chunks is one comment.
        for &b in b": ping\r\n" {
            p.feed(&[b], &mut out).unwrap();
        }
        assert_eq!(p.comments_seen(), 5);
    }

    // ---- line ends ----

    #[test]
    fn cr_lf_crlf_line_ends() {
        let expected = vec![msg("a\nb"), msg("c")];
        assert_eq!(parse_all_ways(b"data: a\rdata: b\r\rdata: c\r\r"), expected);
        assert_eq!(
            parse_all_ways(b"data: a\r\ndata: b\r\n\r\ndata: c\r\n\r\n"),
            expected
        );
        assert_eq!(
            parse_all_ways(b"data: a\ndata: b\r\n\rdata: c\n\r\n"),
            expected
        );
    }

    #[test]
    fn lf_cr_is_two_line_ends() {
        // "\n\r" is LF then CR: the CR is an empty line, so it dispatches.
        assert_eq!(
            parse_all_ways(b"data: a\n\rdata: b\n\r"),
            vec![msg("a"), msg("b")]
        );
    }

    #[test]
    fn crlf_split_across_chunks_is_one_line_end() {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        p.feed(b"data: a\r", &mut out).unwrap();
        p.feed(b"\ndata: b\r", &mut out).unwrap();
        p.feed(b"\n", &mut out).unwrap();
        assert!(out.is_empty(), "{out:?}");
        p.feed(b"\r", &mut out).unwrap();
        assert_eq!(out, vec![msg("a\nb")]);
        p.feed(b"\n", &mut out).unwrap(); // LF of the blank line's CRLF
        assert_eq!(out.len(), 1);
        // An empty chunk between CR and LF changes nothing.
        p.feed(b"data: c\r", &mut out).unwrap();
        p.feed(b"", &mut out).unwrap();
        p.feed(b"\n\r\n", &mut out).unwrap();
        assert_eq!(out, vec![msg("a\nb"), msg("c")]);
    }

    #[test]
    fn cr_cr_is_a_blank_line() {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        p.feed(b"data: a\r", &mut out).unwrap();
        p.feed(b"\r", &mut out).unwrap();
        assert_eq!(out, vec![msg("a")]);
    }

    // ---- encoding ----

    #[test]
    fn bom_is_skipped_once() {
        assert_eq!(parse_all_ways(b"\xEF\xBB\xBFdata: a\n\n"), vec![msg("a")]);
        // A second BOM is part of the first line: field "\u{FEFF}data" is unknown.
        assert_eq!(
            parse_all_ways(b"\xEF\xBB\xBF\xEF\xBB\xBFdata: a\n\n"),
            vec![]
        );
        // A BOM later in the stream is not skipped.
        assert_eq!(
            parse_all_ways(b"data: a\n\n\xEF\xBB\xBFdata: b\n\ndata: c\n\n"),
            vec![msg("a"), msg("c")]
        );
    }

    #[test]
    fn bom_split_across_chunks() {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        p.feed(b"\xEF", &mut out).unwrap();
        p.feed(b"\xBB", &mut out).unwrap();
        p.feed(b"\xBFda", &mut out).unwrap();
        p.feed(b"ta: a\n\n", &mut out).unwrap();
        assert_eq!(out, vec![msg("a")]);
    }

    #[test]
    fn partial_bom_is_ordinary_bytes() {
        // EF BB followed by something else is invalid UTF-8, not a BOM.
        assert_eq!(parse_all_ways(b"\xEF\xBBdata: a\n\n"), vec![]);
        assert_eq!(parse_all_ways(b"data: \xEF\xBB\n\n"), vec![msg("\u{FFFD}")]);
        // A partial BOM followed directly by a line end is a non-empty line.
        assert_eq!(parse_all_ways(b"\xEF\n\ndata: a\n\n"), vec![msg("a")]);
    }

    #[test]
    fn bom_is_skipped_again_after_finish_and_reset() {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        p.feed(b"\xEF\xBB\xBFdata: a\n\n", &mut out).unwrap();
        p.finish();
        p.feed(b"\xEF\xBB\xBFdata: b\n\n", &mut out).unwrap();
        p.reset();
        p.feed(b"\xEF\xBB\xBFdata: c\n\n", &mut out).unwrap();
        assert_eq!(out, vec![msg("a"), msg("b"), msg("c")]);
    }

    #[test]
    fn multibyte_char_split_across_chunks() {
        let text = "data: h\u{e9}llo \u{20ac} \u{1F600}\n\n";
        let expected = vec![msg("h\u{e9}llo \u{20ac} \u{1F600}")];
        assert_eq!(parse_all_ways(text.as_bytes()), expected);
        // Split inside the 4-byte emoji explicitly.
        let bytes = text.as_bytes();
        let emoji = text.find('\u{1F600}').unwrap();
        for cut in emoji + 1..emoji + 4 {
            let mut p = SseParser::new();
            let mut out = Vec::new();
            p.feed(&bytes[..cut], &mut out).unwrap();
            p.feed(&bytes[cut..], &mut out).unwrap();
            assert_eq!(out, expected);
        }
    }

    #[test]
    fn invalid_utf8_becomes_replacement_char() {
        assert_eq!(
            parse_all_ways(b"data: a\xFFb\xC3\n\n"),
            vec![msg("a\u{FFFD}b\u{FFFD}")]
        );
        assert_eq!(
            parse(b"event: \xF0\x9F\x98\nid: \xC0\x80\ndata: x\n\n"),
            vec![ev("\u{FFFD}", "x", "\u{FFFD}\u{FFFD}")]
        );
    }

    // ---- end of stream, reset ----

    #[test]
    fn finish_discards_incomplete_event() {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        p.feed(b"data: a\n\ndata: b\n", &mut out).unwrap();
        p.finish();
        p.feed(b"data: c\n\n", &mut out).unwrap();
        assert_eq!(out, vec![msg("a"), msg("c")]);
        // An unterminated line is dropped too.
        p.feed(b"data: d\n\ndata: e", &mut out).unwrap();
        p.finish();
        p.feed(b"\n\n", &mut out).unwrap();
        assert_eq!(out, vec![msg("a"), msg("c"), msg("d")]);
    }

    #[test]
    fn finish_discards_pending_event_type_and_cr() {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        p.feed(b"event: x\r", &mut out).unwrap();
        p.finish();
        // The LF starts the new stream: it is a blank line, not half a CRLF.
        p.feed(b"\ndata: a\n\n", &mut out).unwrap();
        assert_eq!(out, vec![msg("a")]);
    }

    #[test]
    fn finish_rolls_back_id_of_incomplete_event() {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        p.feed(b"id: 1\ndata: a\n\nid: 2\ndata: b\n", &mut out)
            .unwrap();
        assert_eq!(p.last_event_id(), "2");
        p.finish();
        assert_eq!(p.last_event_id(), "1");
        // An id-only event (no data) still commits at its blank line.
        p.feed(b"id: 3\n\nid: 4\n", &mut out).unwrap();
        p.finish();
        assert_eq!(p.last_event_id(), "3");
        assert_eq!(out, vec![ev("message", "a", "1")]);
    }

    #[test]
    fn reset_keeps_id_retry_and_limit_clears_the_rest() {
        let mut p = SseParser::with_max_buffer(64);
        let mut out = Vec::new();
        p.feed(
            b": hi\nretry: 10\nid: 9\ndata: a\n\nevent: e\ndata: par",
            &mut out,
        )
        .unwrap();
        p.reset();
        assert_eq!(p.last_event_id(), "9");
        assert_eq!(p.retry(), Some(10));
        assert_eq!(p.comments_seen(), 0);
        p.feed(b"tial\n\ndata: b\n\n", &mut out).unwrap();
        assert_eq!(out, vec![ev("message", "a", "9"), ev("message", "b", "9")]);
        let big = [b'x'; 100];
        assert!(p.feed(&big, &mut out).is_err(), "limit survives reset");
    }

    #[test]
    fn default_and_new() {
        let p = SseParser::default();
        assert_eq!(p.last_event_id(), "");
        assert_eq!(p.retry(), None);
        assert_eq!(p.comments_seen(), 0);
        assert_eq!(p.limit, DEFAULT_MAX_BUFFER);
        assert_eq!(SseParser::new().limit, DEFAULT_MAX_BUFFER);
    }

    // ---- buffer limit ----

    #[test]
    fn error_message() {
        assert_eq!(
            SseError::BufferLimit { limit: 1024 }.to_string(),
            "SSE event exceeds the 1024-byte buffer limit"
        );
    }

    #[test]
    fn line_limit_then_parsing_continues() {
        let mut p = SseParser::with_max_buffer(16);
        let mut out = Vec::new();
        // Exactly at the limit is fine.
        p.feed(b"data: 0123456789\n\n", &mut out).unwrap();
        assert_eq!(out, vec![msg("0123456789")]);
        out.clear();
        // One more byte is not; the limit error is reported mid-line.
        assert_eq!(
            p.feed(b"data: 01234567890", &mut out),
            Err(SseError::BufferLimit { limit: 16 })
        );
        // The rest of the oversized line and its event are skipped...
        p.feed(b"more\ndata: tail of the same event\n", &mut out)
            .unwrap();
        p.feed(b"\ndata: ok\n\n", &mut out).unwrap();
        // ... and the next event is parsed normally.
        assert_eq!(out, vec![msg("ok")]);
    }

    #[test]
    fn limit_error_in_one_chunk_keeps_surrounding_events() {
        let mut p = SseParser::with_max_buffer(16);
        let mut out = Vec::new();
        let r = p.feed(
            b"data: a\n\nevent: big\ndata: 0123456789abcdef\ndata: rest\n\ndata: b\n\n",
            &mut out,
        );
        assert_eq!(r, Err(SseError::BufferLimit { limit: 16 }));
        assert_eq!(out, vec![msg("a"), msg("b")]);
        p.feed(b"data: c\n\n", &mut out).unwrap();
        assert_eq!(out, vec![msg("a"), msg("b"), msg("c")]);
    }

    #[test]
    fn accumulated_data_limit() {
        let mut p = SseParser::with_max_buffer(20);
        let mut out = Vec::new();
        // Each line is small but the event's data grows past the limit.
        let r = p.feed(b"data: 12345\ndata: 12345\ndata: 12345\n", &mut out);
        assert_eq!(r, Err(SseError::BufferLimit { limit: 20 }));
        // The remaining lines of the dropped event do not leak out as a
        // truncated event.
        p.feed(b"data: 12345\n\n", &mut out).unwrap();
        assert!(out.is_empty(), "{out:?}");
        p.feed(b"data: 12345\ndata: 12\n\n", &mut out).unwrap();
        assert_eq!(out, vec![msg("12345\n12")]);
    }

    #[test]
    fn limit_applies_to_lines_without_end() {
        let mut p = SseParser::with_max_buffer(1000);
        let mut out = Vec::new();
        let mut err = None;
        for _ in 0..100 {
            if let Err(e) = p.feed(b"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", &mut out) {
                err = Some(e);
                break;
            }
        }
        assert_eq!(err, Some(SseError::BufferLimit { limit: 1000 }));
        assert!(p.line.len() <= 1000);
        // Still skipping: the rest of the line, then the event, then normal.
        p.feed(b"xx\n\ndata: ok\n\n", &mut out).unwrap();
        assert_eq!(out, vec![msg("ok")]);
    }

    #[test]
    fn limit_error_commits_id_of_dropped_event() {
        // The dropped event still ends at its blank line, so its id counts:
        // reconnecting does not ask for the oversized event again.
        let mut p = SseParser::with_max_buffer(16);
        let mut out = Vec::new();
        assert!(
            p.feed(b"id: 5\ndata: 0123456789abcdef\n\n", &mut out)
                .is_err()
        );
        p.finish();
        assert_eq!(p.last_event_id(), "5");
        assert!(out.is_empty());
    }

    #[test]
    fn finish_and_reset_end_skipping() {
        let mut p = SseParser::with_max_buffer(8);
        let mut out = Vec::new();
        assert!(p.feed(b"data: 0123456789", &mut out).is_err());
        p.finish();
        p.feed(b"data: a\n\n", &mut out).unwrap();
        assert!(p.feed(b"data: 0123456789", &mut out).is_err());
        p.reset();
        p.feed(b"data: b\n\n", &mut out).unwrap();
        assert_eq!(out, vec![msg("a"), msg("b")]);
    }

    #[test]
    fn zero_limit_allows_only_blank_lines() {
        let mut p = SseParser::with_max_buffer(0);
        let mut out = Vec::new();
        p.feed(b"\n\r\n\r", &mut out).unwrap();
        assert!(p.feed(b"d", &mut out).is_err());
        assert!(out.is_empty());
    }

    #[test]
    fn large_line_capacity_is_released() {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        let mut input = Vec::from(&b"data: "[..]);
        input.resize(200_000, b'a');
        for chunk in input.chunks(1000) {
            p.feed(chunk, &mut out).unwrap();
        }
        p.feed(b"\n\n", &mut out).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].data.len(), 200_000 - 6);
        assert!(p.line.capacity() <= KEEP_LINE_CAPACITY);
    }

    // ---- property tests ----

    /// A well-formed event for serialization.
    #[derive(Clone, Debug)]
    struct Spec {
        event: Option<String>,
        id: Option<String>,
        retry: Option<u64>,
        comment: Option<String>,
        data: Vec<String>,
    }

    /// Text without CR or LF (and, for ids, without NUL).
    fn line_text() -> impl Strategy<Value = String> {
        prop_oneof!["[^\r\n]{0,12}", "[ :a-z\u{e9}\u{20ac}\u{1F600}]{0,8}",]
    }

    fn spec() -> impl Strategy<Value = Spec> {
        (
            proptest::option::of(line_text()),
            proptest::option::of(line_text().prop_filter("no NUL", |s| !s.contains('\0'))),
            proptest::option::of(any::<u64>()),
            proptest::option::of(line_text()),
            proptest::collection::vec(line_text(), 0..4),
        )
            .prop_map(|(event, id, retry, comment, data)| Spec {
                event,
                id,
                retry,
                comment,
                data,
            })
    }

    /// Serializes `specs` with the line-end style picked by `ends`, and
    /// returns the text plus the expected events and final retry.
    fn serialize(specs: &[Spec], ends: &[u8], bom: bool) -> (Vec<u8>, Vec<SseEvent>, Option<u64>) {
        let mut text = Vec::new();
        if bom {
            text.extend_from_slice(&BOM);
        }
        let mut expected = Vec::new();
        let mut id = String::new();
        let mut retry = None;
        let mut n = 0usize;
        let mut prev_cr = false;
        let mut line = |text: &mut Vec<u8>, s: &str| {
            text.extend_from_slice(s.as_bytes());
            let mut end: &[u8] = match ends.get(n % ends.len().max(1)).copied().unwrap_or(0) % 3 {
                0 => b"\n",
                1 => b"\r",
                _ => b"\r\n",
            };
            // CR followed by an empty LF-terminated line would read as CRLF.
            if prev_cr && s.is_empty() && end == b"\n" {
                end = b"\r";
            }
            prev_cr = end == b"\r";
            text.extend_from_slice(end);
            n += 1;
        };
        for s in specs {
            if let Some(c) = &s.comment {
                line(&mut text, &format!(":{c}"));
            }
            if let Some(e) = &s.event {
                line(&mut text, &format!("event: {e}"));
            }
            if let Some(i) = &s.id {
                line(&mut text, &format!("id: {i}"));
                id.clone_from(i);
            }
            if let Some(r) = s.retry {
                line(&mut text, &format!("retry: {r}"));
                retry = Some(r);
            }
            for d in &s.data {
                line(&mut text, &format!("data: {d}"));
            }
            line(&mut text, "");
            if !s.data.is_empty() {
                let event = match s.event.as_deref() {
                    None | Some("") => "message",
                    Some(e) => e,
                };
                expected.push(ev(event, &s.data.join("\n"), &id));
            }
        }
        (text, expected, retry)
    }

    fn feed_split(p: &mut SseParser, bytes: &[u8], cuts: &[usize]) -> (Vec<SseEvent>, bool) {
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
        cuts.sort_unstable();
        let mut out = Vec::new();
        let mut failed = false;
        let mut start = 0;
        for cut in cuts.into_iter().chain([bytes.len()]) {
            failed |= p.feed(&bytes[start..cut], &mut out).is_err();
            start = cut;
        }
        p.finish();
        (out, failed)
    }

    proptest! {
        #[test]
        fn chunking_never_changes_well_formed_events(
            specs in proptest::collection::vec(spec(), 0..6),
            ends in proptest::collection::vec(any::<u8>(), 1..8),
            bom in any::<bool>(),
            cuts in proptest::collection::vec(any::<usize>(), 0..12),
        ) {
            let (text, expected, retry) = serialize(&specs, &ends, bom);

            let mut whole = SseParser::new();
            let (out, failed) = feed_split(&mut whole, &text, &[]);
            prop_assert!(!failed);
            prop_assert_eq!(&out, &expected);
            prop_assert_eq!(whole.retry(), retry);
            let comments = specs.iter().filter(|s| s.comment.is_some()).count() as u64;
            prop_assert_eq!(whole.comments_seen(), comments);

            let mut split = SseParser::new();
            let (out, failed) = feed_split(&mut split, &text, &cuts);
            prop_assert!(!failed);
            prop_assert_eq!(&out, &expected);
            prop_assert_eq!(split.retry(), retry);
            prop_assert_eq!(split.comments_seen(), comments);
            prop_assert_eq!(split.last_event_id(), whole.last_event_id());

            let mut bytewise = SseParser::new();
            let mut out = Vec::new();
            for b in &text {
                bytewise.feed(core::slice::from_ref(b), &mut out).unwrap();
            }
            bytewise.finish();
            prop_assert_eq!(&out, &expected);
            prop_assert_eq!(bytewise.last_event_id(), whole.last_event_id());
        }

        #[test]
        fn arbitrary_bytes_never_panic_and_chunking_is_invisible(
            bytes in proptest::collection::vec(
                prop_oneof![
                    4 => proptest::sample::select(&b"\r\n: dataeventidretry0\xEF\xBB\xBF\x00"[..]),
                    1 => any::<u8>(),
                ],
                0..200,
            ),
            limit in 0usize..48,
            cuts in proptest::collection::vec(any::<usize>(), 0..16),
        ) {
            let mut whole = SseParser::with_max_buffer(limit);
            let (out_whole, failed_whole) = feed_split(&mut whole, &bytes, &[]);
            let mut split = SseParser::with_max_buffer(limit);
            let (out_split, failed_split) = feed_split(&mut split, &bytes, &cuts);
            prop_assert_eq!(&out_whole, &out_split);
            prop_assert_eq!(failed_whole, failed_split);
            prop_assert_eq!(whole.last_event_id(), split.last_event_id());
            prop_assert_eq!(whole.retry(), split.retry());
            prop_assert_eq!(whole.comments_seen(), split.comments_seen());
            for e in &out_whole {
                prop_assert!(e.data.len() <= limit);
            }
        }
    }
}
