//! Native side of the SDK's differential and conformance tests
//! (`npm/test/differential.test.js`, `npm/test/browser-vectors.test.js`) and
//! of its benchmark (`npm/test/bench/sdk-bench.mjs`).
//!
//! Every state printed here comes from `switchyard_core::reduce_json` fed
//! the frames' JSON text, exactly the entry point the wasm `SessionView`
//! calls, and is serialized with `SessionView::to_json`, the bytes the SDK's
//! `stateJson()` must reproduce.
//!
//! Modes (one per run):
//!
//! ```text
//! differential-gen [--count N] [--first-seed S] [--out PATH|-]
//!     N generated frame sequences, one JSON object per line: `seed`,
//!     `mutated` (text-level damage applied), `frames` (the frames' JSON
//!     texts) and `state` (the native stateJson, as a string)
//! differential-gen --reduce
//!     a native reducer on stdin/stdout: each input line is a JSON array of
//!     frame texts, each output line that sequence's native stateJson
//!     (flushed per line, so one process serves a whole minimization)
//! differential-gen --vectors [--out PATH|-]
//!     "<vector file>\t<native stateJson>" per conformance vector (the
//!     NATIVE_VIEWS format npm/test/vectors.test.js reads)
//! differential-gen --bench-stream [--frames N] [--first-seed S] [--out PATH|-]
//!     testgen::realistic_stream(N, S) (default 100000, 42: the core
//!     bench's stream) as one frame JSON text per line
//! ```
//!
//! Needs core's `testgen` generators: build with
//! `cargo run -p switchyard-tests --features switchyard-core/testgen --bin differential-gen -- ...`.

use std::io::{self, BufRead, BufWriter, Write};
use std::process::ExitCode;

use serde_json::{Value, json};
use switchyard_core::testgen::{
    ALL_OPS, Rng, frames_from_choices, random_choices, realistic_stream,
};
use switchyard_core::{SessionView, reduce_json};
use switchyard_tests::vectors::{frame_texts, load_all};

/// Longest sequence, in choices (each choice is about one frame).
const MAX_CHOICES: u32 = 200;

const USAGE: &str = "usage: differential-gen [--count N] [--first-seed S] [--out PATH|-]
       differential-gen --reduce
       differential-gen --vectors [--out PATH|-]
       differential-gen --bench-stream [--frames N] [--first-seed S] [--out PATH|-]";

enum Mode {
    Sequences,
    Reduce,
    Vectors,
    BenchStream,
}

struct Args {
    mode: Mode,
    count: u64,
    frames: usize,
    first_seed: Option<u64>,
    out: String,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        mode: Mode::Sequences,
        count: 10_000,
        frames: 100_000,
        first_seed: None,
        out: "-".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match flag.as_str() {
            "--reduce" => args.mode = Mode::Reduce,
            "--vectors" => args.mode = Mode::Vectors,
            "--bench-stream" => args.mode = Mode::BenchStream,
            "--count" => args.count = num(&value("--count")?)?,
            "--frames" => args.frames = num(&value("--frames")?)?,
            "--first-seed" => args.first_seed = Some(num(&value("--first-seed")?)?),
            "--out" => args.out = value("--out")?,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(args)
}

fn num<T: std::str::FromStr>(s: &str) -> Result<T, String> {
    s.parse().map_err(|_| format!("not a number: {s:?}"))
}

fn open_out(path: &str) -> io::Result<Box<dyn Write>> {
    Ok(if path == "-" {
        Box::new(BufWriter::with_capacity(1 << 16, io::stdout().lock()))
    } else {
        Box::new(BufWriter::with_capacity(
            1 << 16,
            std::fs::File::create(path)?,
        ))
    })
}

/// The native view after reducing `texts` from an empty view.
fn native_state<S: AsRef<str>>(texts: &[S]) -> String {
    let mut view = SessionView::new();
    for t in texts {
        reduce_json(&mut view, t.as_ref());
    }
    view.to_json()
}

/// One generated sequence: testgen's frames for `random_choices(seed, len,
/// ALL_OPS)` (every op: session events, stream control, stale duplicates,
/// frames from the past, unknown types and invalid payloads), as JSON text,
/// then for one seed in four a few edits at the text level.
///
/// The edits cover what testgen cannot produce because it builds `Frame`s:
/// text that is not a frame at all, envelopes with odd numbers (negative,
/// fractional, beyond u64), a newer protocol version, frames out of order,
/// and streams that do not begin with `session_started` (a mid-stream join).
/// Those are the places where two JSON front ends could disagree.
fn sequence(seed: u64) -> (Vec<String>, bool) {
    let mut rng = Rng::new(seed ^ 0x5EED_D1FF);
    let len = rng.below(MAX_CHOICES) as usize;
    let choices = random_choices(seed, len, ALL_OPS);
    let mut texts: Vec<String> = frames_from_choices(&choices, ALL_OPS)
        .iter()
        .map(|f| f.to_json())
        .collect();
    let mutated = rng.below(4) == 0;
    if mutated {
        for _ in 0..1 + rng.below(3) {
            mutate(&mut texts, &mut rng);
        }
    }
    (texts, mutated)
}

fn mutate(texts: &mut Vec<String>, rng: &mut Rng) {
    if texts.is_empty() {
        texts.push(String::new());
        return;
    }
    let i = rng.below(texts.len() as u32) as usize;
    match rng.below(8) {
        // Not JSON, or JSON that is not an object.
        0 => {
            const JUNK: [&str; 9] = [
                "",
                " ",
                "null",
                "[]",
                "42",
                "\"text\"",
                "{}",
                "{\"v\":1}",
                "not json",
            ];
            texts[i] = JUNK[rng.below(JUNK.len() as u32) as usize].into();
        }
        // Cut off mid-frame (at a char boundary), or followed by garbage.
        1 => {
            let t = &texts[i];
            let mut cut = rng.below(t.len() as u32) as usize;
            while !t.is_char_boundary(cut) {
                cut -= 1;
            }
            texts[i] = if rng.below(2) == 0 {
                t[..cut].into()
            } else {
                format!("{t}}}")
            };
        }
        // Surrounding whitespace (valid JSON).
        2 => texts[i] = format!(" \n{}\t", texts[i]),
        // Odd ids: numbers JSON allows but a u64 does not hold, or a string.
        3 => {
            const IDS: [&str; 7] = [
                "-1",
                "0",
                "1.5",
                "1e3",
                "18446744073709551615",
                "18446744073709551616",
                "\"7\"",
            ];
            let id = IDS[rng.below(IDS.len() as u32) as usize];
            texts[i] = with_field(&texts[i], "id", id);
        }
        // A newer protocol version, a type that is not a string, or no data.
        4 => {
            let (key, value) = [("v", "2"), ("type", "7"), ("data", "null")][rng.below(3) as usize];
            texts[i] = with_field(&texts[i], key, value);
        }
        // Out of order.
        5 if texts.len() > 1 => {
            let j = if i + 1 < texts.len() { i + 1 } else { i - 1 };
            texts.swap(i, j);
        }
        // Joined mid-stream: the first frames never arrived.
        6 => {
            let n = 1 + rng.below(3) as usize;
            texts.drain(..n.min(texts.len()));
        }
        // A frame delivered twice in a row.
        _ => {
            let t = texts[i].clone();
            texts.insert(i, t);
        }
    }
}

/// `text` with top-level `key` set to the raw JSON `value`. Spliced as
/// text, so numbers reach the reducer exactly as written (a `Value` would
/// normalize `1e3` or reject an id past u64).
fn with_field(text: &str, key: &str, value: &str) -> String {
    let Ok(Value::Object(mut map)) = serde_json::from_str::<Value>(text) else {
        return text.into();
    };
    map.remove(key);
    let rest = serde_json::to_string(&Value::Object(map)).unwrap_or_default();
    let body = rest.strip_prefix('{').unwrap_or("}");
    let sep = if body == "}" { "" } else { "," };
    format!("{{\"{key}\":{value}{sep}{body}")
}

fn write_sequences(out: &mut dyn Write, count: u64, first_seed: u64) -> io::Result<()> {
    for seed in first_seed..first_seed + count {
        let (texts, mutated) = sequence(seed);
        let state = native_state(&texts);
        let line = json!({ "seed": seed, "mutated": mutated, "frames": texts, "state": state });
        serde_json::to_writer(&mut *out, &line)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// Serves `--reduce`: one JSON array of frame texts in, one stateJson out.
fn serve_reduce() -> io::Result<()> {
    let stdin = io::stdin().lock();
    let mut stdout = io::stdout().lock();
    for line in stdin.lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let texts: Vec<String> = serde_json::from_str(&line).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("--reduce wants a JSON array of strings per line: {e}"),
            )
        })?;
        writeln!(stdout, "{}", native_state(&texts))?;
        stdout.flush()?;
    }
    Ok(())
}

fn write_vectors(out: &mut dyn Write) -> io::Result<()> {
    for v in load_all() {
        let name = v
            .path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        writeln!(out, "{name}\t{}", native_state(&frame_texts(&v.json)))?;
    }
    Ok(())
}

fn write_bench_stream(out: &mut dyn Write, frames: usize, seed: u64) -> io::Result<()> {
    for f in realistic_stream(frames, seed) {
        out.write_all(f.to_json().as_bytes())?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("differential-gen: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let result = match args.mode {
        Mode::Reduce => serve_reduce(),
        mode => open_out(&args.out).and_then(|mut out| {
            match mode {
                Mode::Sequences => {
                    write_sequences(&mut out, args.count, args.first_seed.unwrap_or(1))
                }
                Mode::Vectors => write_vectors(&mut out),
                _ => write_bench_stream(&mut out, args.frames, args.first_seed.unwrap_or(42)),
            }?;
            out.flush()
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // A reader that stops early (`| head`) is not an error.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("differential-gen: {e}");
            ExitCode::FAILURE
        }
    }
}
