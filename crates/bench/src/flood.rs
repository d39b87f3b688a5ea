//! `flood`: one session, many observers, `/flood N` as fast as the agent can
//! go. Every observer must get every chunk (zero loss, contiguous ids); the
//! figure is frames delivered per second summed over observers.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::{Value, json};

use crate::client::{Api, PromptOutcome, SseStream, frame_id, is_agent_chunk, server_timestamp};
use crate::daemon::{self, Daemon};
use crate::report::{Report, Summary, mib, r3, thousands};

/// Frames/s summed over clients that the flood should reach.
const TARGET_FRAMES_PER_SEC: f64 = 500_000.0;

/// `flood` options.
#[derive(Args, Clone, Debug)]
pub struct FloodArgs {
    /// SSE clients (observers) on the session.
    #[arg(long, default_value_t = 100)]
    pub clients: usize,
    /// Chunks the agent floods (`/flood N`).
    #[arg(long, default_value_t = 100_000)]
    pub chunks: u64,
    /// Pass `--queue-frames N` to the daemon (its default is 4096 per
    /// client); raise it if clients get evicted.
    #[arg(long)]
    pub queue_frames: Option<usize>,
    /// Pass `--queue-bytes N` to the daemon (its default is 16 MiB per
    /// client, about 64,000 flood chunks).
    #[arg(long)]
    pub queue_bytes: Option<usize>,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 300)]
    pub timeout_secs: u64,
    /// The daemon's journal: `off` (in memory), `on`, `full` (fsync).
    #[arg(long, value_enum, default_value_t = daemon::JournalMode::On)]
    pub journal: daemon::JournalMode,
}

/// What one observer saw after the prompt was sent.
#[derive(Debug, Default)]
struct Seen {
    chunks: u64,
    frames: u64,
    /// Ids that did not follow the previous id by exactly one.
    gaps: u64,
    /// The snapshot's lastEventId + 1 differed from the first live id.
    bad_start: bool,
    evicted: bool,
    warnings: u64,
    ended_early: bool,
    done: Option<Instant>,
    first_chunk_ts: Option<u64>,
    last_chunk_ts: Option<u64>,
    bytes: u64,
}

/// Reads one observer's stream until `turn_complete` (or its end).
async fn observe(mut s: SseStream, snapshot_last_id: u64) -> Seen {
    let mut seen = Seen::default();
    let mut prev = snapshot_last_id;
    let start_bytes = s.bytes;
    loop {
        let Some(ev) = s.next().await else {
            seen.ended_early = true;
            break;
        };
        seen.frames += 1;
        if let Some(id) = frame_id(&ev) {
            if id != prev + 1 {
                if prev == snapshot_last_id {
                    seen.bad_start = true;
                }
                seen.gaps += 1;
            }
            prev = id;
        }
        match ev.event.as_str() {
            "session_update" if is_agent_chunk(&ev) => {
                seen.chunks += 1;
                let ts = server_timestamp(&ev);
                if seen.first_chunk_ts.is_none() {
                    seen.first_chunk_ts = ts;
                }
                seen.last_chunk_ts = ts;
            }
            "turn_complete" => {
                seen.done = Some(Instant::now());
                break;
            }
            "client_evicted" => seen.evicted = true,
            "slow_client_warning" => seen.warnings += 1,
            _ => {}
        }
    }
    seen.bytes = s.bytes - start_bytes;
    seen
}

/// Opens an observer's stream and reads its snapshot: (stream, lastEventId).
pub async fn open_observer(api: &Api, sid: &str) -> Result<(SseStream, u64)> {
    let cid = api.attach(sid, "observer").await?;
    let mut s = api.events(sid, &cid, None).await?;
    let first = s.next().await.context("stream ended before the snapshot")?;
    if first.event != "session_snapshot" {
        bail!("first frame is {}, not session_snapshot", first.event);
    }
    let v: Value = serde_json::from_str(&first.data)?;
    let last = v["data"]["lastEventId"]
        .as_u64()
        .context("snapshot without lastEventId")?;
    Ok((s, last))
}

/// Runs the scenario.
pub async fn run(bin: &Path, args: &FloodArgs) -> Result<Report> {
    let mut extra = vec![
        "--max-subscribers".to_string(),
        (args.clients + 16).max(1024).to_string(),
    ];
    extra.extend(args.journal.flags());
    if let Some(q) = args.queue_frames {
        extra.extend(["--queue-frames".into(), q.to_string()]);
    }
    if let Some(q) = args.queue_bytes {
        extra.extend(["--queue-bytes".into(), q.to_string()]);
    }
    let d = Daemon::start(bin, &extra).await?;
    let api = Api::new(d.url(), d.token.clone());
    let (sid, ctl) = api.create_session(&d.workspace()?).await?;

    let mut streams = Vec::with_capacity(args.clients);
    for _ in 0..args.clients {
        streams.push(open_observer(&api, &sid).await?);
    }
    // Every observer's snapshot predates the later attaches: they see the
    // later client_joined frames live, which is fine (ids stay contiguous).
    let tasks: Vec<_> = streams
        .into_iter()
        .map(|(s, last)| tokio::spawn(observe(s, last)))
        .collect();

    let agents = daemon::children(d.pid);
    // CPU seconds so far: (daemon, its agents, this bench's clients).
    let cpu_sample = || {
        (
            daemon::cpu_secs(d.pid).unwrap_or(0.0),
            agents
                .iter()
                .filter_map(|p| daemon::cpu_secs(*p))
                .sum::<f64>(),
            daemon::self_cpu_secs(),
        )
    };
    let cpu0 = cpu_sample();
    let syscw0 = daemon::write_syscalls(d.pid).unwrap_or(0);
    let t0 = Instant::now();
    let t0_epoch_ms = crate::latency::now_epoch_ms();
    let sampler = Sampler::start(d.pid, agents.clone(), t0);
    match api
        .prompt(&sid, &ctl, &format!("/flood {}", args.chunks))
        .await?
    {
        PromptOutcome::Accepted(_) => {}
        PromptOutcome::QueueFull => bail!("prompt queue full on a fresh session"),
    }
    let deadline = Duration::from_secs(args.timeout_secs);
    let mut seen = Vec::with_capacity(tasks.len());
    let joined = tokio::time::timeout(deadline, async {
        for t in tasks {
            seen.push(t.await?);
        }
        anyhow::Ok(())
    })
    .await;
    let wall_all = t0.elapsed();
    match joined {
        Ok(r) => r?,
        Err(_) => bail!(
            "flood did not finish within {deadline:?} ({} of {} clients done)",
            seen.len(),
            args.clients
        ),
    }
    let cpu1 = cpu_sample();
    let syscw = daemon::write_syscalls(d.pid).unwrap_or(0) - syscw0;
    let timeline = sampler.stop().await;
    let peak_rss = daemon::status_kb(d.pid, "VmHWM").unwrap_or(0);
    let evicted_logged = d.log_count("evicted subscribers");
    d.stop().await?;

    let done: Vec<&Seen> = seen.iter().filter(|s| s.done.is_some()).collect();
    let wall = done
        .iter()
        .filter_map(|s| s.done)
        .max()
        .map_or(wall_all, |t| t - t0);
    let delivered: u64 = seen.iter().map(|s| s.chunks).sum();
    let frames: u64 = seen.iter().map(|s| s.frames).sum();
    let bytes: u64 = seen.iter().map(|s| s.bytes).sum();
    let rate = delivered as f64 / wall.as_secs_f64();
    let lossless = seen
        .iter()
        .filter(|s| s.chunks == args.chunks && s.gaps == 0 && !s.evicted && !s.ended_early)
        .count();
    let evicted = seen.iter().filter(|s| s.evicted).count();
    let warned = seen.iter().filter(|s| s.warnings > 0).count();
    let gaps: u64 = seen.iter().map(|s| s.gaps).sum();
    let bad_start = seen.iter().filter(|s| s.bad_start).count();
    let mut per_client: Vec<f64> = done
        .iter()
        .map(|s| s.done.map_or(0.0, |t| (t - t0).as_secs_f64() * 1000.0))
        .collect();
    let per_client = Summary::of(&mut per_client);
    // The daemon's publish rate: first to last chunk's serverTimestamp.
    let publish_ms = seen
        .iter()
        .find_map(|s| Some(s.last_chunk_ts? - s.first_chunk_ts?))
        .unwrap_or(0);
    let cores = 2.0;
    let (dd, da, db) = (cpu1.0 - cpu0.0, cpu1.1 - cpu0.1, cpu1.2 - cpu0.2);

    let mut r = Report::new(match args.queue_frames {
        Some(q) => format!("flood --journal {} --queue-frames {q}", args.journal.name()),
        None => format!("flood --journal {}", args.journal.name()),
    });
    r.set("journal", args.journal.name());
    if lossless == args.clients {
        r.target(
            "delivered chunk frames/s (all clients)",
            format!("{}/s", thousands(rate as u64)),
            format!("≥ {}/s", thousands(TARGET_FRAMES_PER_SEC as u64)),
            rate >= TARGET_FRAMES_PER_SEC,
        );
    } else {
        // With clients cut off the rate is not the one the target is about.
        r.info(
            "delivered chunk frames/s (not comparable: clients lost frames)",
            format!("{}/s", thousands(rate as u64)),
        );
    }
    r.target(
        "clients with zero loss",
        format!("{lossless}/{}", args.clients),
        format!("{}/{}", args.clients, args.clients),
        lossless == args.clients,
    );
    r.info(
        "wall time (prompt sent → last client's turn_complete)",
        format!("{:.2} s", wall.as_secs_f64()),
    );
    r.info(
        "chunk frames delivered",
        format!(
            "{} of {}",
            thousands(delivered),
            thousands(args.chunks * args.clients as u64)
        ),
    );
    r.info(
        "daemon publish span (first→last chunk serverTimestamp)",
        format!(
            "{publish_ms} ms ({}/s)",
            thousands((args.chunks as f64 / (publish_ms.max(1) as f64 / 1000.0)) as u64)
        ),
    );
    r.info(
        "client finish times p50 / max",
        if per_client.n == 0 {
            "none finished".to_string()
        } else {
            format!("{:.0} / {:.0} ms", per_client.p50, per_client.max)
        },
    );
    r.info(
        "evicted / warned clients; id gaps",
        format!("{evicted} / {warned}; {gaps}"),
    );
    r.info(
        "SSE bytes received (all clients)",
        format!(
            "{} ({} /s)",
            mib(bytes as f64),
            mib(bytes as f64 / wall.as_secs_f64())
        ),
    );
    r.info(
        "CPU s: daemon / agent / bench clients (of wall×2 cores)",
        format!(
            "{dd:.1} / {da:.1} / {db:.1} (of {:.1})",
            wall.as_secs_f64() * cores
        ),
    );
    r.info(
        "daemon CPU per delivered frame",
        format!("{:.2} µs", dd * 1e6 / delivered.max(1) as f64),
    );
    r.info(
        "daemon write syscalls per delivered frame",
        format!(
            "{:.3} ({} writes)",
            syscw as f64 / delivered.max(1) as f64,
            thousands(syscw)
        ),
    );
    // What the same work would take with the machine to itself: all three
    // processes' CPU time spread over both cores.
    let projected = delivered as f64 / ((dd + da + db) / cores);
    r.info(
        "projected frames/s with 2 idle cores (CPU-time based)",
        format!("{}/s", thousands(projected as u64)),
    );
    r.info("daemon peak RSS (VmHWM)", mib(peak_rss as f64));
    // When did the agent stop working (its CPU time stops growing), and
    // when did the daemon publish the last chunk? A gap means the daemon
    // buffered the agent's output instead of pushing back on it.
    let agent_done_s = timeline.agent_done_s();
    let last_publish_s = seen
        .iter()
        .filter_map(|s| s.last_chunk_ts)
        .max()
        .map_or(0.0, |ts| (ts as f64 - t0_epoch_ms) / 1000.0);
    r.info(
        "agent done producing / daemon's last chunk published",
        format!("~{agent_done_s:.2} s / {last_publish_s:.2} s after the prompt"),
    );
    r.info(
        "daemon RSS when the agent was done",
        mib(timeline.rss_at(agent_done_s) as f64),
    );
    if let Some(q) = args.queue_frames {
        r.note(format!("daemon run with --queue-frames {q} (default 4096)"));
    }
    if let Some(q) = args.queue_bytes {
        r.note(format!(
            "daemon run with --queue-bytes {q} (default 16 MiB)"
        ));
    }
    if evicted > 0 {
        r.note(format!(
            "{evicted} clients were evicted (queue_overflow; the daemon logged {evicted_logged} \
             eviction lines): rerun with a larger --queue-frames to measure delivery without eviction"
        ));
    }
    if bad_start > 0 {
        r.note(format!(
            "{bad_start} clients' first live id did not follow their snapshot"
        ));
    }
    r.set(
        "params",
        json!({"clients": args.clients, "chunks": args.chunks,
               "queue_frames": args.queue_frames, "queue_bytes": args.queue_bytes}),
    );
    r.set("delivered_frames_per_sec", r3(rate));
    r.set("delivered_chunks", delivered);
    r.set("frames_received", frames);
    r.set("wall_s", r3(wall.as_secs_f64()));
    r.set("lossless_clients", lossless);
    r.set("evicted_clients", evicted);
    r.set("warned_clients", warned);
    r.set("id_gaps", gaps);
    r.set("publish_span_ms", publish_ms);
    r.set("client_finish_ms", per_client.json());
    r.set("bytes", bytes);
    r.set(
        "cpu_s",
        json!({"daemon": r3(dd), "agent": r3(da), "bench": r3(db)}),
    );
    r.set("daemon_peak_rss_bytes", peak_rss);
    r.set(
        "daemon_cpu_us_per_frame",
        r3(dd * 1e6 / delivered.max(1) as f64),
    );
    r.set("projected_frames_per_sec_idle_machine", r3(projected));
    r.set("daemon_write_syscalls", syscw);
    r.set("agent_done_s", r3(agent_done_s));
    r.set("last_chunk_published_s", r3(last_publish_s));
    r.set("timeline_s_rss_agentcpu", timeline.json());
    Ok(r)
}

/// Samples the daemon's RSS and its agents' CPU time every 250 ms.
struct Sampler {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Timeline>,
}

/// (seconds since the prompt, daemon RSS bytes, agent CPU seconds).
struct Timeline(Vec<(f64, u64, f64)>);

impl Sampler {
    fn start(pid: u32, agents: Vec<u32>, t0: Instant) -> Sampler {
        let (stop, mut stop_rx) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let mut v = Vec::new();
            let mut tick = tokio::time::interval(Duration::from_millis(250));
            loop {
                let rss = daemon::rss(pid).unwrap_or(0);
                let cpu: f64 = agents.iter().filter_map(|p| daemon::cpu_secs(*p)).sum();
                v.push((t0.elapsed().as_secs_f64(), rss, cpu));
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = &mut stop_rx => break,
                }
            }
            Timeline(v)
        });
        Sampler { stop, task }
    }

    async fn stop(self) -> Timeline {
        let _ = self.stop.send(());
        self.task.await.unwrap_or(Timeline(Vec::new()))
    }
}

impl Timeline {
    /// The first sample time after which the agents' CPU time no longer
    /// grows.
    fn agent_done_s(&self) -> f64 {
        let Some(last) = self.0.last() else {
            return 0.0;
        };
        self.0.iter().find(|s| s.2 >= last.2).map_or(0.0, |s| s.0)
    }

    /// RSS at the sample nearest `t`.
    fn rss_at(&self, t: f64) -> u64 {
        self.0
            .iter()
            .min_by(|a, b| (a.0 - t).abs().total_cmp(&(b.0 - t).abs()))
            .map_or(0, |s| s.1)
    }

    fn json(&self) -> Value {
        // One point a second is enough for the JSON line.
        self.0
            .iter()
            .step_by(4)
            .map(|(t, rss, cpu)| json!([r3(*t), rss, r3(*cpu)]))
            .collect()
    }
}
