//! `switchyard-bench` — measures the switchyard daemon the way clients use it.
//!
//! Each scenario starts the **real daemon** as a child process
//! (`switchyard serve --listen 127.0.0.1:0 --data-dir <tmp> --token <random>`,
//! found next to this executable or given with `--switchyard PATH`) and talks
//! to it over real HTTP and SSE on 127.0.0.1 with reqwest, parsing the event
//! streams with `switchyard_core::sse::SseParser`, the parser the SDK uses.
//! The daemon's sessions run a real ACP agent child process (its built-in
//! demo agent, or this binary's `paced-agent` for `latency`), so a frame
//! travels the whole production path: agent stdout → ACP → session actor →
//! bus → per-client queue → SSE → socket → parser.
//!
//! Why: the daemon's job is fan-out — one agent's stream to many clients,
//! some slow, some reconnecting — on small machines. These scenarios put a
//! number on each promise the design makes (see `docs/benchmarks.md` for
//! the targets and the latest figures):
//!
//! - `flood` — throughput and zero loss: 100 observers, `/flood 100000`;
//!   every observer must receive every chunk with contiguous ids. Reports
//!   frames delivered per second summed over observers.
//! - `latency` — publish → receive latency (p50/p99/max) for 100 observers
//!   at 2,000 frames/s for 10 s. The session's agent is this binary
//!   (`paced-agent`, a minimal ACP agent) writing evenly spaced chunks that
//!   carry nanosecond stamps; every frame is also timed against its
//!   `_meta.serverTimestamp` (ms). `--source echo` drives the demo agent
//!   with `/echo` turns instead (bursts; `all` runs both).
//! - `latency-inproc` — the bus alone: a paced thread publishes straight
//!   into a `Bus` with 100 subscriber tasks (no HTTP, no agent).
//! - `idle` — daemon RSS added by 1,000 idle SSE clients on one session.
//! - `resume` — `Last-Event-ID` replay of a full ring (8,000 frames):
//!   request sent → `replay_complete` received.
//! - `startup` — spawn → port accepting connections.
//! - `create` — `POST /session` latency with the demo agent.
//! - `terminal` — terminal sessions: PTY → clients throughput with 1 and
//!   10 clients, peak daemon RSS during a 1 GB flood, keystroke round trip
//!   (not part of `all`: the 1 GB flood alone takes a while).
//! - `all` — every scenario above, in that order, with its defaults; it
//!   also runs `latency --source echo`, and reruns `flood` with queues deep
//!   enough for the whole flood when the first run evicted observers.
//!
//! Every scenario is bounded in count and time, stops by itself, and prints
//! a table and one JSON line. Timing is never asserted anywhere else: these
//! figures are recorded by hand in `docs/benchmarks.md`.
//!
//! Build and run (release, both binaries in one target dir):
//!
//! ```sh
//! cargo build --release -p switchyard-server -p switchyard-bench
//! target/release/switchyard-bench all
//! ```

mod client;
mod create;
mod daemon;
mod flood;
mod idle;
mod inproc;
mod latency;
mod paced_agent;
mod report;
mod resume;
mod startup;
mod terminal;

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::{Args, FromArgMatches, Parser, Subcommand};

use report::{Report, Row};

/// `all` reruns an evicting flood with per-client queues this deep.
const FLOOD_RETRY_QUEUE_FRAMES: usize = 131_072;
/// ... and this many bytes (100,000 chunks are about 26 MB).
const FLOOD_RETRY_QUEUE_BYTES: usize = 64 << 20;

#[derive(Parser)]
#[command(
    name = "switchyard-bench",
    about = "Benchmark the switchyard daemon over real HTTP/SSE",
    long_about = "Benchmark the switchyard daemon over real HTTP/SSE. Each scenario spawns \
                  `switchyard serve` on 127.0.0.1:0, drives it, prints a table and a JSON line, \
                  and stops the daemon. Build with `cargo build --release -p switchyard-server \
                  -p switchyard-bench`."
)]
struct Cli {
    /// The `switchyard` binary (default: next to this executable).
    #[arg(long, global = true)]
    switchyard: Option<PathBuf>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Clone)]
enum Cmd {
    /// 100 observers, `/flood 100000`: delivered frames/s, zero loss.
    Flood(flood::FloodArgs),
    /// Publish → receive latency, 100 observers at 2k frames/s.
    Latency(latency::LatencyArgs),
    /// The bus alone: paced publisher, 100 in-process subscribers.
    LatencyInproc(inproc::InprocArgs),
    /// Daemon RSS added by 1,000 idle SSE clients.
    Idle(idle::IdleArgs),
    /// Time to replay a full ring (8,000 frames) on resume.
    Resume(resume::ResumeArgs),
    /// Spawn → port accepting connections.
    Startup(startup::StartupArgs),
    /// `POST /session` latency with the demo agent.
    Create(create::CreateArgs),
    /// Terminal sessions: PTY → clients throughput, peak RSS, keystrokes.
    Terminal(terminal::TerminalArgs),
    /// Every scenario, in order, with default options.
    All,
    /// (internal) The paced ACP agent `latency` runs inside the daemon.
    #[command(hide = true)]
    PacedAgent,
}

/// A scenario's options as if given no flags.
fn defaults<T: Args + FromArgMatches>() -> T {
    let cmd = T::augment_args(clap::Command::new("defaults"));
    T::from_arg_matches(&cmd.get_matches_from(["defaults"])).expect("defaults parse")
}

async fn run_one(bin: &Path, cmd: &Cmd) -> Result<Report> {
    match cmd {
        Cmd::Flood(a) => flood::run(bin, a).await,
        Cmd::Latency(a) => latency::run(bin, a).await,
        Cmd::LatencyInproc(a) => inproc::run(a).await,
        Cmd::Idle(a) => idle::run(bin, a).await,
        Cmd::Resume(a) => resume::run(bin, a).await,
        Cmd::Startup(a) => startup::run(bin, a).await,
        Cmd::Create(a) => create::run(bin, a).await,
        Cmd::Terminal(a) => terminal::run(bin, a).await,
        Cmd::All | Cmd::PacedAgent => unreachable!("handled in main"),
    }
}

/// Runs a scenario on the runtime's worker threads rather than on the
/// thread that `main` blocks on, so a stream read in the scenario's own
/// task is woken on the same worker as the connection that feeds it (on
/// the main thread every chunk would be a cross-thread wake-up).
async fn spawn_one(bin: &Path, cmd: &Cmd) -> Result<Report> {
    let (bin, cmd) = (bin.to_path_buf(), cmd.clone());
    tokio::spawn(async move { run_one(&bin, &cmd).await }).await?
}

fn describe_machine() {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "?".into());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    println!(
        "machine: {cores} cpus ({cpu}); load average {} at start",
        daemon::loadavg()
    );
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    if let Cmd::PacedAgent = cli.command {
        paced_agent::run();
        return Ok(());
    }
    let bin = daemon::find_binary(cli.switchyard.as_deref())?;
    // Clients need a socket each (1,000 in `idle`); the daemon inherits this.
    daemon::raise_nofile();
    describe_machine();
    println!("daemon: {}", bin.display());

    let plan: Vec<Cmd> = match cli.command {
        Cmd::All => vec![
            Cmd::Flood(defaults()),
            Cmd::Latency(defaults()),
            Cmd::Latency(latency::LatencyArgs {
                source: latency::Source::Echo,
                ..defaults()
            }),
            Cmd::LatencyInproc(defaults()),
            Cmd::Idle(defaults()),
            Cmd::Resume(defaults()),
            Cmd::Startup(defaults()),
            Cmd::Create(defaults()),
        ],
        one => vec![one],
    };
    let many = plan.len() > 1;
    let mut summary: Vec<Row> = Vec::new();
    let mut failures = 0;
    let mut plan = plan;
    let mut i = 0;
    while i < plan.len() {
        let cmd = &plan[i];
        i += 1;
        match spawn_one(&bin, cmd).await {
            Ok(mut r) => {
                r.print();
                // `all`: a flood that evicted clients is measured again with
                // queues deep enough to hold the whole flood.
                if many
                    && let Cmd::Flood(a) = cmd
                    && a.queue_frames.is_none()
                    && r.json["evicted_clients"].as_u64().unwrap_or(0) > 0
                {
                    let again = flood::FloodArgs {
                        queue_frames: Some(FLOOD_RETRY_QUEUE_FRAMES),
                        queue_bytes: Some(FLOOD_RETRY_QUEUE_BYTES),
                        ..a.clone()
                    };
                    println!(
                        "(clients were evicted: running flood again with --queue-frames \
                         {FLOOD_RETRY_QUEUE_FRAMES} --queue-bytes {FLOOD_RETRY_QUEUE_BYTES})"
                    );
                    plan.insert(i, Cmd::Flood(again));
                }
                for mut row in r.rows.drain(..) {
                    if row.verdict != report::Verdict::Info {
                        row.metric = format!("{}: {}", r.scenario, row.metric);
                        summary.push(row);
                    }
                }
            }
            Err(e) => {
                failures += 1;
                eprintln!("scenario failed: {e:#}");
            }
        }
    }
    if many {
        println!();
        println!("== summary (targets) ==");
        report::print_rows(&summary);
    }
    if failures > 0 {
        anyhow::bail!("{failures} scenario(s) failed");
    }
    Ok(())
}
