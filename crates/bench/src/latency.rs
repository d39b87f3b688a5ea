//! `latency`: publish → receive latency with many observers at a steady
//! rate, on the real daemon.
//!
//! Two sources of load (`--source`):
//!
//! - `paced` (default): the session's agent is this binary's
//!   [`paced_agent`](crate::paced_agent), which writes `agent_message_chunk`s
//!   evenly spaced at `--rate`, each carrying its own nanosecond wall-clock
//!   stamp. A sample is agent write → client parse, precisely: a superset of
//!   publish → receive.
//! - `echo`: the demo agent, driven by many small `/echo` turns on a ticker.
//!   Each turn is `prompt_queued`, `turn_started`, the echoed
//!   `user_message_chunk`, K chunks and `turn_complete` (K + 4 frames) in a
//!   burst, so the load is bursty rather than even.
//!
//! Either way every frame is also timed against its `_meta.serverTimestamp`
//! (stamped inside `Bus::publish`; same machine, same wall clock): publish →
//! receive. That stamp is whole milliseconds, truncated, so those samples
//! overstate the true latency by 0–1 ms.

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Result, bail};
use clap::{Args, ValueEnum};
use serde_json::json;
use tokio::sync::watch;

use crate::client::{Api, PromptOutcome, SseStream, number_after, server_timestamp};
use crate::daemon::{self, Daemon};
use crate::flood::open_observer;
use crate::paced_agent::unix_ns;
use crate::report::{Report, Summary, percentile, r3, thousands};

/// p99 publish → receive latency the daemon should stay under.
const TARGET_P99_MS: f64 = 10.0;
/// Characters per `/echo` piece in the demo agent.
const ECHO_PIECE_CHARS: usize = 32;
/// The paced agent's stamp, in the chunk's JSON text.
const STAMP: &str = "\"text\":\"t";

/// Where the frames come from.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The bench's own paced ACP agent: evenly spaced, ns stamps.
    Paced,
    /// The demo agent, `/echo` turns on a ticker: bursts of K + 4 frames.
    Echo,
}

/// `latency` options.
#[derive(Args, Clone, Debug)]
pub struct LatencyArgs {
    /// SSE clients (observers).
    #[arg(long, default_value_t = 100)]
    pub clients: usize,
    /// Frames per second to publish.
    #[arg(long, default_value_t = 2000)]
    pub rate: u64,
    /// Seconds to publish for.
    #[arg(long, default_value_t = 10)]
    pub duration_secs: u64,
    /// Where the frames come from.
    #[arg(long, value_enum, default_value_t = Source::Paced)]
    pub source: Source,
    /// `--source echo`: `agent_message_chunk`s per `/echo` turn.
    #[arg(long, default_value_t = 16)]
    pub chunks_per_turn: usize,
    /// The daemon's journal: `off` (in memory), `on`, `full` (fsync).
    #[arg(long, value_enum, default_value_t = daemon::JournalMode::On)]
    pub journal: daemon::JournalMode,
}

/// Milliseconds since the epoch, fractional.
pub fn now_epoch_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

#[derive(Default)]
struct Sampled {
    /// receive − serverTimestamp (ms; the stamp is truncated to whole ms).
    publish: Vec<f64>,
    /// receive − the paced agent's ns stamp (ms).
    precise: Vec<f64>,
    ended_early: bool,
    evicted: bool,
}

/// Samples every frame published at or after `from_ms` until the
/// `turn_complete` of the prompt `last` names.
async fn sample(
    mut s: SseStream,
    from_ms: u64,
    mut last: watch::Receiver<Option<String>>,
) -> Sampled {
    let mut out = Sampled::default();
    let mut completed: HashSet<String> = HashSet::new();
    loop {
        if let Some(p) = last.borrow().as_ref()
            && completed.contains(p)
        {
            break;
        }
        let ev = tokio::select! {
            ev = s.next() => ev,
            r = last.changed() => {
                if r.is_err() {
                    // The publisher gave up: nothing more will complete.
                    break;
                }
                continue;
            }
        };
        let Some(ev) = ev else {
            out.ended_early = true;
            break;
        };
        let now_ns = unix_ns();
        let now_ms = now_ns as f64 / 1e6;
        if let Some(ts) = server_timestamp(&ev)
            && ts >= from_ms
        {
            out.publish.push(now_ms - ts as f64);
            if let Some(stamp) = number_after(&ev.data, STAMP) {
                out.precise.push((now_ns as f64 - stamp as f64) / 1e6);
            }
        }
        match ev.event.as_str() {
            "turn_complete" => {
                if let Some(p) = prompt_id(&ev.data) {
                    completed.insert(p);
                }
            }
            "client_evicted" => out.evicted = true,
            _ => {}
        }
    }
    out
}

fn prompt_id(json: &str) -> Option<String> {
    let key = "\"promptId\":\"";
    let at = json.find(key)? + key.len();
    let end = json[at..].find('"')?;
    Some(json[at..at + end].to_string())
}

/// `path` quoted for the daemon's shell-like `--agent` splitting.
fn shell_quote(path: &Path) -> String {
    let s = path.to_string_lossy();
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+".contains(c))
    {
        s.into_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Runs the scenario.
pub async fn run(bin: &Path, args: &LatencyArgs) -> Result<Report> {
    let mut extra = vec![
        "--max-subscribers".to_string(),
        (args.clients + 16).max(1024).to_string(),
    ];
    extra.extend(args.journal.flags());
    let agent = match args.source {
        Source::Paced => {
            let me = std::env::current_exe()?;
            extra.extend([
                "--agent".into(),
                format!("paced={} paced-agent", shell_quote(&me)),
            ]);
            Some("paced")
        }
        Source::Echo => None,
    };
    let d = Daemon::start(bin, &extra).await?;
    let api = Api::new(d.url(), d.token.clone());
    let (sid, ctl) = api.create_session_with(&d.workspace()?, agent).await?;
    let mut streams = Vec::with_capacity(args.clients);
    for _ in 0..args.clients {
        streams.push(open_observer(&api, &sid).await?.0);
    }
    let (last_tx, last_rx) = watch::channel::<Option<String>>(None);
    let start_ms = now_epoch_ms().ceil() as u64;
    let tasks: Vec<_> = streams
        .into_iter()
        .map(|s| tokio::spawn(sample(s, start_ms, last_rx.clone())))
        .collect();
    drop(last_rx);
    // Let the stamp boundary pass before the first publish.
    tokio::time::sleep(Duration::from_millis(5)).await;

    let cpu0 = daemon::cpu_secs(d.pid).unwrap_or(0.0);
    let bench_cpu0 = daemon::self_cpu_secs();
    let syscw0 = daemon::write_syscalls(d.pid).unwrap_or(0);
    let t0 = Instant::now();
    let window = Duration::from_secs(args.duration_secs);
    let (mut sent, mut refused) = (0u64, 0u64);
    let last_prompt = match args.source {
        Source::Paced => {
            let text = format!("{} {}", args.rate, window.as_millis());
            match api.prompt(&sid, &ctl, &text).await? {
                PromptOutcome::Accepted(p) => {
                    sent = 1;
                    p
                }
                PromptOutcome::QueueFull => bail!("prompt queue full on a fresh session"),
            }
        }
        Source::Echo => {
            let frames_per_turn = args.chunks_per_turn + 4;
            let turns_per_sec = (args.rate as f64 / frames_per_turn as f64).max(1.0);
            let text = format!(
                "/echo {}",
                "x".repeat(ECHO_PIECE_CHARS * args.chunks_per_turn)
            );
            let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / turns_per_sec));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut last = None;
            while t0.elapsed() < window {
                tick.tick().await;
                match api.prompt(&sid, &ctl, &text).await? {
                    PromptOutcome::Accepted(p) => {
                        sent += 1;
                        last = Some(p);
                    }
                    PromptOutcome::QueueFull => refused += 1,
                }
            }
            match last {
                Some(p) => p,
                None => bail!("no prompt was accepted"),
            }
        }
    };
    last_tx.send_replace(Some(last_prompt));
    let mut results = Vec::new();
    let joined = tokio::time::timeout(window + Duration::from_secs(60), async {
        for t in tasks {
            results.push(t.await?);
        }
        anyhow::Ok(())
    })
    .await;
    match joined {
        Ok(r) => r?,
        Err(_) => bail!("observers did not see the last turn end in time"),
    }
    let total_secs = t0.elapsed().as_secs_f64();
    let cpu = daemon::cpu_secs(d.pid).unwrap_or(0.0) - cpu0;
    let bench_cpu = daemon::self_cpu_secs() - bench_cpu0;
    let syscw = daemon::write_syscalls(d.pid).unwrap_or(0) - syscw0;
    let agent_cpu: f64 = daemon::children(d.pid)
        .iter()
        .filter_map(|p| daemon::cpu_secs(*p))
        .sum();
    d.stop().await?;

    let evicted = results.iter().filter(|s| s.evicted).count();
    let ended = results.iter().filter(|s| s.ended_early).count();
    let frames_one = results.first().map_or(0, |s| s.publish.len());
    let mut publish: Vec<f64> = Vec::new();
    let mut precise: Vec<f64> = Vec::new();
    for s in results {
        publish.extend(s.publish);
        precise.extend(s.precise);
    }
    let p = Summary::of(&mut publish);
    let p_999 = percentile(&publish, 99.9);
    let q = Summary::of(&mut precise);
    let q_999 = percentile(&precise, 99.9);

    let mut r = Report::new(match args.source {
        Source::Paced => format!("latency --journal {}", args.journal.name()),
        Source::Echo => format!("latency --source echo --journal {}", args.journal.name()),
    });
    r.set("journal", args.journal.name());
    r.set(
        "params",
        json!({"clients": args.clients, "rate": args.rate, "duration_s": args.duration_secs,
               "source": format!("{:?}", args.source).to_lowercase(),
               "chunks_per_turn": args.chunks_per_turn}),
    );
    if args.source == Source::Paced {
        r.target(
            "agent write → client parse p99 (ns stamps)",
            format!("{:.2} ms", q.p99),
            format!("≤ {TARGET_P99_MS} ms"),
            q.p99 <= TARGET_P99_MS,
        );
        r.info(
            "… p50 / p99.9 / max",
            format!("{:.2} / {q_999:.2} / {:.2} ms", q.p50, q.max),
        );
    }
    r.target(
        "publish → client parse p99 (serverTimestamp, +0–1 ms)",
        format!("{:.2} ms", p.p99),
        format!("≤ {TARGET_P99_MS} ms"),
        p.p99 <= TARGET_P99_MS,
    );
    r.info(
        "… p50 / p99.9 / max",
        format!("{:.2} / {p_999:.2} / {:.2} ms", p.p50, p.max),
    );
    r.info(
        "frames/s published (seen by one client)",
        format!("{:.0}", frames_one as f64 / args.duration_secs as f64),
    );
    r.info(
        "samples (frames × clients)",
        format!("{} over {} clients", thousands(p.n as u64), args.clients),
    );
    if args.source == Source::Echo {
        r.info(
            "turns sent / refused (queue full)",
            format!("{sent} / {refused}"),
        );
    }
    r.info(
        "CPU s: daemon / agent / bench clients (of wall×2 cores)",
        format!(
            "{cpu:.1} / {agent_cpu:.1} / {bench_cpu:.1} (of {:.1})",
            total_secs * 2.0
        ),
    );
    r.info(
        "daemon write syscalls per delivered frame",
        format!("{:.2}", syscw as f64 / p.n.max(1) as f64),
    );
    if evicted + ended > 0 {
        r.note(format!(
            "{evicted} clients evicted, {ended} streams ended early"
        ));
    }
    r.set("publish_latency_ms", p.json());
    r.set("publish_p999_ms", r3(p_999));
    if args.source == Source::Paced {
        r.set("agent_latency_ms", q.json());
        r.set("agent_p999_ms", r3(q_999));
    }
    r.set("frames_one_client", frames_one);
    r.set("turns_sent", sent);
    r.set("turns_refused", refused);
    r.set("evicted_clients", evicted);
    r.set("daemon_cpu_s", r3(cpu));
    r.set("daemon_write_syscalls", syscw);
    r.set("agent_cpu_s", r3(agent_cpu));
    r.set("bench_cpu_s", r3(bench_cpu));
    Ok(r)
}
