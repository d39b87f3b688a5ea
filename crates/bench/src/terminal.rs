//! `terminal`: a shell's output fanned out to clients, through the real
//! PTY path (program → PTY → reader → UTF-8 pump → screen model + bus →
//! per-client queue → SSE → parser).
//!
//! - throughput: the program writes `--bytes` of log-like lines as fast as
//!   the PTY takes them, with 1 and then 10 clients (`--clients`) reading;
//!   every client must get every byte (counted after the PTY's `\n` →
//!   `\r\n`) with contiguous ids. Reported per client (the slowest) and in
//!   total.
//! - peak RSS: `--rss-bytes` (1 GB) of output with one fast and one stalled
//!   client; the daemon's `VmHWM` afterwards.
//! - keystroke round trip: `POST /input` of one character to a `cat` in
//!   raw mode, until that character comes back on the event stream;
//!   p50/p99 over `--keystrokes`.
//! - PTY baseline: the same program on a bare PTY in this process, read in
//!   a tight loop with no daemon at all: the kernel's own rate, the ceiling
//!   the daemon's throughput is measured against.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::{Value, json};

use crate::client::{Api, SseStream, frame_id};
use crate::daemon::{self, Daemon};
use crate::report::{Report, Summary, mib, r3};

/// MB/s (10^6 bytes) one client should receive.
const TARGET_MB_PER_SEC: f64 = 100.0;
/// One line of the flood (72 characters and a newline).
const LINE: &str = "2026-12-06T20:00:00.000Z INFO switchyard::bench flood line: lorem ipsum";

/// `terminal` options.
#[derive(Args, Clone, Debug)]
pub struct TerminalArgs {
    /// Bytes the program writes in each throughput run.
    #[arg(long, default_value_t = 200_000_000)]
    pub bytes: u64,
    /// Client counts to measure throughput with.
    #[arg(long, value_delimiter = ',', default_value = "1,10")]
    pub clients: Vec<usize>,
    /// Bytes for the peak-RSS flood (0 skips it).
    #[arg(long, default_value_t = 1_000_000_000)]
    pub rss_bytes: u64,
    /// Keystrokes for the round-trip latency (0 skips it).
    #[arg(long, default_value_t = 500)]
    pub keystrokes: usize,
    /// Pass `--queue-bytes N` to the daemon (per-client queue budget).
    #[arg(long)]
    pub queue_bytes: Option<usize>,
    /// Give up on a run after this many seconds.
    #[arg(long, default_value_t = 300)]
    pub timeout_secs: u64,
    /// Skip the bare-PTY baseline.
    #[arg(long)]
    pub no_baseline: bool,
    /// The daemon's journal: `off` (in memory), `on`, `full` (fsync).
    #[arg(long, value_enum, default_value = "on")]
    pub journal: daemon::JournalMode,
}

/// A program that waits for a line on stdin, then writes `bytes` of log
/// lines and `END`.
fn flood_program(bytes: u64) -> Value {
    json!({
        "command": "/bin/sh",
        "args": ["-c", format!(
            "stty -echo; echo READY; read go; yes '{LINE}' | head -c {bytes}; printf 'END\\n'"
        )],
        "cols": 120,
        "rows": 40,
    })
}

/// What the clients must receive after `READY`: every byte, each `\n`
/// doubled to `\r\n` by the PTY, then `END\r\n`.
fn expected_bytes(bytes: u64) -> u64 {
    let per_line = LINE.len() as u64 + 1;
    bytes + bytes / per_line + "END\r\n".len() as u64
}

#[derive(Debug, Default)]
struct Received {
    bytes: u64,
    frames: u64,
    gaps: u64,
    evicted: bool,
    ended_early: bool,
    done: Option<Instant>,
}

/// The `data` of a `terminal_output` frame (none for an agent's terminal).
fn output_of(ev: &switchyard_core::sse::SseEvent) -> Option<String> {
    if ev.event != "terminal_output" {
        return None;
    }
    let v: Value = serde_json::from_str(&ev.data).ok()?;
    if v["data"].get("terminalId").is_some() {
        return None;
    }
    v["data"]["data"].as_str().map(String::from)
}

/// Reads until `READY` has passed and `expect` bytes after it arrived.
async fn receive(mut s: SseStream, expect: u64) -> Received {
    let mut r = Received::default();
    let mut ready = false;
    let mut prev: Option<u64> = None;
    loop {
        let Some(ev) = s.next().await else {
            r.ended_early = true;
            return r;
        };
        if let Some(id) = frame_id(&ev) {
            if prev.is_some_and(|p| id != p + 1) {
                r.gaps += 1;
            }
            prev = Some(id);
        }
        if ev.event == "session_snapshot" {
            prev = serde_json::from_str::<Value>(&ev.data)
                .ok()
                .and_then(|v| v["data"]["lastEventId"].as_u64());
            continue;
        }
        if ev.event == "client_evicted" {
            r.evicted = true;
            return r;
        }
        let Some(data) = output_of(&ev) else { continue };
        if !ready {
            ready = data.contains("READY");
            continue;
        }
        r.bytes += data.len() as u64;
        r.frames += 1;
        if r.bytes >= expect {
            r.done = Some(Instant::now());
            return r;
        }
    }
}

async fn wait_ready(s: &mut SseStream) -> Result<()> {
    while let Some(ev) = s.next().await {
        if output_of(&ev).is_some_and(|d| d.contains("READY")) {
            return Ok(());
        }
    }
    bail!("stream ended before READY")
}

fn daemon_flags(a: &TerminalArgs) -> Vec<String> {
    let mut extra = a.journal.flags();
    if let Some(b) = a.queue_bytes {
        extra.extend(["--queue-bytes".to_string(), b.to_string()]);
    }
    extra
}

/// One throughput run: `clients` observers read `bytes` of output.
async fn throughput(bin: &Path, a: &TerminalArgs, clients: usize, r: &mut Report) -> Result<()> {
    let d = Daemon::start(bin, &daemon_flags(a)).await?;
    let api = Api::new(d.url(), d.token.clone());
    let (sid, owner) = api.create_terminal(flood_program(a.bytes)).await?;
    let expect = expected_bytes(a.bytes);
    let mut tasks = Vec::new();
    for i in 0..clients {
        let id = if i == 0 {
            owner.clone()
        } else {
            api.attach(&sid, "observer").await?
        };
        // From the first frame, so `READY` is seen wherever it landed.
        let s = api.events(&sid, &id, Some(0)).await?;
        tasks.push(tokio::spawn(receive(s, expect)));
    }
    eprintln!("terminal: {clients} client(s) attached; waiting for READY");
    // A client of our own that sees READY, so `go` is not typed too early.
    let mut probe = api
        .events(&sid, &api.attach(&sid, "observer").await?, Some(0))
        .await?;
    wait_ready(&mut probe).await?;
    drop(probe);
    let cpu0 = daemon::cpu_secs(d.pid).unwrap_or(0.0);
    let t0 = Instant::now();
    api.input(&sid, &owner, "go\r").await?;
    eprintln!("terminal: flooding {} bytes", a.bytes);
    let deadline = Duration::from_secs(a.timeout_secs);
    let mut results = Vec::new();
    for t in tasks {
        results.push(
            tokio::time::timeout(deadline, t)
                .await
                .context("throughput run timed out")??,
        );
    }
    let cpu = daemon::cpu_secs(d.pid).unwrap_or(0.0) - cpu0;
    let hwm = daemon::status_kb(d.pid, "VmHWM").unwrap_or(0);
    d.stop().await?;

    let complete: Vec<&Received> = results
        .iter()
        .filter(|x| x.bytes == expect && x.gaps == 0 && x.done.is_some())
        .collect();
    let lossless = complete.len() == clients;
    let slowest = results
        .iter()
        .filter_map(|x| x.done)
        .map(|t| t.duration_since(t0).as_secs_f64())
        .fold(0.0, f64::max);
    let per_client = expect as f64 / slowest.max(1e-9) / 1e6;
    let total = per_client * clients as f64;
    let frames: u64 = results.iter().map(|x| x.frames).sum::<u64>() / clients.max(1) as u64;
    let evicted = results.iter().filter(|x| x.evicted).count();
    let label = format!("{clients} client{}", if clients == 1 { "" } else { "s" });
    if clients == 1 {
        r.target(
            format!("{label}: MB/s to the client"),
            format!("{per_client:.1}"),
            format!("≥ {TARGET_MB_PER_SEC}"),
            lossless && per_client >= TARGET_MB_PER_SEC,
        );
    } else {
        r.info(
            format!("{label}: MB/s per client"),
            format!("{per_client:.1}"),
        );
        r.info(format!("{label}: MB/s total"), format!("{total:.1}"));
    }
    r.target(
        format!("{label}: every byte, in order"),
        format!("{}/{clients} complete, {evicted} evicted", complete.len()),
        "all",
        lossless,
    );
    r.info(
        format!("{label}: frames per client"),
        format!(
            "{frames} ({:.1} KiB avg)",
            expect as f64 / frames.max(1) as f64 / 1024.0
        ),
    );
    r.info(
        format!("{label}: daemon CPU"),
        format!("{:.0}%", 100.0 * cpu / slowest.max(1e-9)),
    );
    r.info(format!("{label}: daemon peak RSS"), mib(hwm as f64));
    r.set(
        &format!("clients_{clients}"),
        json!({
            "bytes": expect,
            "seconds": r3(slowest),
            "mb_per_sec_per_client": r3(per_client),
            "mb_per_sec_total": r3(total),
            "complete": complete.len(),
            "evicted": evicted,
            "frames_per_client": frames,
            "daemon_cpu_secs": r3(cpu),
            "daemon_vmhwm_bytes": hwm,
        }),
    );
    Ok(())
}

/// Peak RSS while `rss_bytes` flow to one fast and one stalled client.
async fn peak_rss(bin: &Path, a: &TerminalArgs, r: &mut Report) -> Result<()> {
    let d = Daemon::start(bin, &daemon_flags(a)).await?;
    let api = Api::new(d.url(), d.token.clone());
    let (sid, owner) = api.create_terminal(flood_program(a.rss_bytes)).await?;
    let idle_rss = daemon::status_kb(d.pid, "VmRSS").unwrap_or(0);
    let expect = expected_bytes(a.rss_bytes);
    let fast = tokio::spawn(receive(api.events(&sid, &owner, Some(0)).await?, expect));
    let stalled_id = api.attach(&sid, "observer").await?;
    // Opened and never read.
    let stalled = api.events(&sid, &stalled_id, None).await?;
    let mut probe = api
        .events(&sid, &api.attach(&sid, "observer").await?, Some(0))
        .await?;
    wait_ready(&mut probe).await?;
    drop(probe);
    let t0 = Instant::now();
    api.input(&sid, &owner, "go\r").await?;
    let got = tokio::time::timeout(Duration::from_secs(a.timeout_secs), fast)
        .await
        .context("RSS flood timed out")??;
    let secs = t0.elapsed().as_secs_f64();
    let hwm = daemon::status_kb(d.pid, "VmHWM").unwrap_or(0);
    drop(stalled);
    d.stop().await?;
    r.info(
        "1 GB flood: fast client",
        format!(
            "{} in {secs:.1} s ({:.1} MB/s), {}",
            mib(got.bytes as f64),
            got.bytes as f64 / secs / 1e6,
            if got.bytes == expect && got.gaps == 0 {
                "complete"
            } else {
                "INCOMPLETE"
            }
        ),
    );
    r.info("1 GB flood: daemon RSS before", mib(idle_rss as f64));
    r.target(
        "1 GB flood: daemon peak RSS (VmHWM)",
        mib(hwm as f64),
        "bounded (< 512 MiB)",
        hwm < 512 << 20 && got.bytes == expect,
    );
    r.set(
        "rss_flood",
        json!({
            "bytes": expect,
            "received": got.bytes,
            "seconds": r3(secs),
            "daemon_vmrss_before_bytes": idle_rss,
            "daemon_vmhwm_bytes": hwm,
        }),
    );
    Ok(())
}

/// Keystroke → program → screen → client round trips.
async fn keystrokes(bin: &Path, a: &TerminalArgs, r: &mut Report) -> Result<()> {
    let d = Daemon::start(bin, &[]).await?;
    let api = Api::new(d.url(), d.token.clone());
    let (sid, owner) = api
        .create_terminal(json!({
            "command": "/bin/sh",
            "args": ["-c", "stty raw -echo; echo READY; exec cat"],
        }))
        .await?;
    let mut s = api.events(&sid, &owner, Some(0)).await?;
    wait_ready(&mut s).await?;
    let letters: Vec<char> = ('a'..='z').collect();
    let mut ms = Vec::with_capacity(a.keystrokes);
    for i in 0..a.keystrokes {
        let c = letters[i % letters.len()].to_string();
        let t0 = Instant::now();
        api.input(&sid, &owner, &c).await?;
        loop {
            let ev = tokio::time::timeout(Duration::from_secs(10), s.next())
                .await
                .context("no echo within 10 s")?
                .context("stream ended")?;
            if output_of(&ev).is_some_and(|d| d.contains(&c)) {
                break;
            }
        }
        ms.push(t0.elapsed().as_secs_f64() * 1000.0);
    }
    d.stop().await?;
    let sum = Summary::of(&mut ms);
    r.info(
        format!("keystroke round trip ({} keys)", a.keystrokes),
        format!(
            "p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            sum.p50, sum.p99, sum.max
        ),
    );
    r.set("keystroke_ms", sum.json());
    Ok(())
}

/// The kernel's PTY rate for the throughput program's output: a PTY of
/// the same size, `yes | head -c` on its slave side, this thread reading
/// the master side into a 64 KiB buffer until EOF. No daemon, no parsing.
fn pty_baseline(bytes: u64) -> Result<(f64, u64)> {
    use portable_pty::{CommandBuilder, PtySize, native_pty_system};
    let pair = native_pty_system()
        .openpty(PtySize {
            rows: 40,
            cols: 120,
            pixel_width: 0,
            pixel_height: 0,
        })
        .map_err(|e| anyhow::anyhow!("openpty: {e}"))?;
    let mut cmd = CommandBuilder::new("/bin/sh");
    cmd.args(["-c", &format!("stty -echo; yes '{LINE}' | head -c {bytes}")]);
    let mut reader = pair
        .master
        .try_clone_reader()
        .map_err(|e| anyhow::anyhow!("pty reader: {e}"))?;
    let start = Instant::now();
    let mut child = pair
        .slave
        .spawn_command(cmd)
        .map_err(|e| anyhow::anyhow!("spawn: {e}"))?;
    drop(pair.slave);
    let mut buf = vec![0u8; 64 << 10];
    let mut total = 0u64;
    // EOF, or EIO once the slave side is closed: both mean done.
    while let Ok(n @ 1..) = std::io::Read::read(&mut reader, &mut buf) {
        total += n as u64;
    }
    let secs = start.elapsed().as_secs_f64();
    child.wait().context("wait for the baseline program")?;
    Ok((total as f64 / secs / 1e6, total))
}

/// Runs the scenario.
pub async fn run(bin: &Path, a: &TerminalArgs) -> Result<Report> {
    let mut r = Report::new("terminal");
    if !a.no_baseline {
        let bytes = a.bytes;
        let (mbps, got) = tokio::task::spawn_blocking(move || pty_baseline(bytes)).await??;
        eprintln!("terminal: bare PTY baseline {mbps:.1} MB/s ({got} bytes)");
        r.info(
            "bare PTY → one reader, no daemon: MB/s",
            format!("{mbps:.1}"),
        );
        r.set("baseline_mb_per_sec", r3(mbps));
    }
    for &n in &a.clients {
        throughput(bin, a, n, &mut r).await?;
    }
    if a.rss_bytes > 0 {
        peak_rss(bin, a, &mut r).await?;
    }
    if a.keystrokes > 0 {
        keystrokes(bin, a, &mut r).await?;
    }
    r.note(format!(
        "throughput runs: {} MB written by `yes | head -c` on a 120x40 PTY; the daemon keeps its \
         screen model and bus for every byte",
        a.bytes / 1_000_000
    ));
    Ok(r)
}
