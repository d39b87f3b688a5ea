//! Incremental UTF-8 decoding of PTY output.
//!
//! A read from a PTY ends wherever the kernel's buffer did, often in the
//! middle of a multi-byte character; decoding each read on its own would
//! turn every such split into two replacement characters. The decoder
//! keeps the unfinished tail (at most three bytes) for the next read.
//! Bytes that can never become UTF-8 are replaced with U+FFFD, one per
//! maximal invalid sequence (as `String::from_utf8_lossy` does).

/// Decodes a byte stream chunk by chunk.
#[derive(Debug, Default)]
pub struct Utf8Decoder {
    /// The start of a character whose remaining bytes have not arrived.
    pending: Vec<u8>,
}

impl Utf8Decoder {
    /// A decoder with nothing pending.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends the text in `input` to `out`, keeping an unfinished
    /// character for the next call.
    pub fn decode(&mut self, mut input: &[u8], out: &mut String) {
        // Finish the character left over from the previous chunk first.
        while !self.pending.is_empty() && !input.is_empty() {
            self.pending.push(input[0]);
            input = &input[1..];
            match std::str::from_utf8(&self.pending) {
                Ok(s) => {
                    out.push_str(s);
                    self.pending.clear();
                }
                Err(e) => {
                    if let Some(bad) = e.error_len() {
                        let held = std::mem::take(&mut self.pending);
                        out.push('\u{FFFD}');
                        // What followed the invalid bytes starts afresh.
                        self.decode_fresh(&held[bad..], out);
                    }
                }
            }
        }
        if !input.is_empty() {
            self.decode_fresh(input, out);
        }
    }

    /// Flushes an unfinished character as U+FFFD (end of stream).
    pub fn finish(&mut self, out: &mut String) {
        if !self.pending.is_empty() {
            self.pending.clear();
            out.push('\u{FFFD}');
        }
    }

    fn decode_fresh(&mut self, mut input: &[u8], out: &mut String) {
        loop {
            match std::str::from_utf8(input) {
                Ok(s) => {
                    out.push_str(s);
                    return;
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    // SAFETY-free: `valid_up_to` bytes were just checked.
                    out.push_str(std::str::from_utf8(&input[..valid]).unwrap_or_default());
                    match e.error_len() {
                        Some(bad) => {
                            out.push('\u{FFFD}');
                            input = &input[valid + bad..];
                        }
                        None => {
                            self.pending.extend_from_slice(&input[valid..]);
                            return;
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_in_pieces(bytes: &[u8], sizes: &[usize]) -> String {
        let mut d = Utf8Decoder::new();
        let mut out = String::new();
        let mut rest = bytes;
        let mut i = 0;
        while !rest.is_empty() {
            let n = sizes[i % sizes.len()].min(rest.len());
            d.decode(&rest[..n], &mut out);
            rest = &rest[n..];
            i += 1;
        }
        d.finish(&mut out);
        out
    }

    #[test]
    fn split_characters_survive_every_split_point() {
        let text = "aé€😀z—日本語";
        for size in 1..8 {
            assert_eq!(decode_in_pieces(text.as_bytes(), &[size]), text, "{size}");
        }
        assert_eq!(decode_in_pieces(text.as_bytes(), &[1, 3, 2, 5]), text);
    }

    #[test]
    fn invalid_bytes_match_from_utf8_lossy_wherever_the_reads_split() {
        let cases: [&[u8]; 6] = [
            b"ab\xffcd",
            b"\xe2\x82",              // truncated at the end
            b"\xe2\x82x\xe2\x82\xac", // truncated, then a whole euro
            b"\xf0\x9f\x98",
            b"\xc0\xaf\xed\xa0\x80ok", // overlong and surrogate
            b"\x80\x80\x80",
        ];
        for bytes in cases {
            let expected = String::from_utf8_lossy(bytes);
            for size in 1..6 {
                assert_eq!(
                    decode_in_pieces(bytes, &[size]),
                    expected,
                    "{bytes:?} by {size}"
                );
            }
        }
    }
}
