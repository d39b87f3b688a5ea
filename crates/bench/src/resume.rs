//! `resume`: a client that comes back with `Last-Event-ID` and is owed a
//! full ring (8,000 frames) of replay. Time from sending the request to
//! receiving `replay_complete`.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::{Value, json};

use crate::client::{Api, PromptOutcome, frame_id, number_after};
use crate::daemon::{self, Daemon};
use crate::report::{Report, Summary, mib, r3};

/// Request → `replay_complete` for a full ring.
const TARGET_MS: f64 = 20.0;

/// `resume` options.
#[derive(Args, Clone, Debug)]
pub struct ResumeArgs {
    /// Frames to replay (the daemon's ring is sized to hold at least this).
    #[arg(long, default_value_t = 8000)]
    pub frames: u64,
    /// Resumes to time.
    #[arg(long, default_value_t = 20)]
    pub reps: usize,
}

/// Runs the scenario.
pub async fn run(bin: &Path, args: &ResumeArgs) -> Result<Report> {
    let ring = args.frames.max(8000);
    let d = Daemon::start(bin, &["--ring-size".into(), ring.to_string()]).await?;
    let api = Api::new(d.url(), d.token.clone());
    let (sid, ctl) = api.create_session(&d.workspace()?).await?;

    // Fill the ring: /flood N publishes N chunks plus the turn's own frames.
    let mut watch = api.events(&sid, &ctl, None).await?;
    match api
        .prompt(&sid, &ctl, &format!("/flood {}", args.frames))
        .await?
    {
        PromptOutcome::Accepted(_) => {}
        PromptOutcome::QueueFull => bail!("prompt queue full on a fresh session"),
    }
    tokio::time::timeout(Duration::from_secs(120), async {
        while let Some(ev) = watch.next().await {
            if ev.event == "turn_complete" {
                return Ok(());
            }
        }
        bail!("stream ended before turn_complete")
    })
    .await
    .context("the flood did not finish within 120 s")??;
    drop(watch);
    let last = api.session(&sid).await?["lastEventId"]
        .as_u64()
        .context("no lastEventId")?;
    if last < args.frames {
        bail!("only {last} frames published");
    }
    let from = last - args.frames;

    let mut total_ms = Vec::with_capacity(args.reps);
    let mut headers_ms = Vec::with_capacity(args.reps);
    let mut bytes = 0;
    let syscw0 = daemon::write_syscalls(d.pid).unwrap_or(0);
    for rep in 0..args.reps {
        let t0 = Instant::now();
        let mut s = api.events(&sid, &ctl, Some(from)).await?;
        let th = t0.elapsed();
        let mut replayed = 0u64;
        let mut expected_id = from + 1;
        let done = loop {
            let ev = s.next().await.context("stream ended during replay")?;
            if let Some(id) = frame_id(&ev) {
                if id != expected_id {
                    bail!("rep {rep}: replay id {id}, expected {expected_id}");
                }
                expected_id += 1;
                replayed += 1;
            } else if ev.event == "replay_complete" {
                break (t0.elapsed(), ev.data);
            } else {
                bail!("rep {rep}: unexpected {} during replay", ev.event);
            }
        };
        let count = number_after(&done.1, "\"replayedCount\":");
        if replayed != args.frames || count != Some(args.frames) {
            bail!(
                "rep {rep}: replayed {replayed}, replay_complete says {count:?}, wanted {}",
                args.frames
            );
        }
        bytes = s.bytes;
        total_ms.push(done.0.as_secs_f64() * 1000.0);
        headers_ms.push(th.as_secs_f64() * 1000.0);
    }
    let writes =
        (daemon::write_syscalls(d.pid).unwrap_or(0) - syscw0) as f64 / args.reps.max(1) as f64;
    d.stop().await?;

    let first = total_ms.first().copied().unwrap_or(0.0);
    let t = Summary::of(&mut total_ms);
    let h = Summary::of(&mut headers_ms);
    let mut r = Report::new("resume");
    r.ms_targets(
        format!("request → replay_complete, {} frames, p50", args.frames),
        &t,
        TARGET_MS,
    );
    r.info("… first run", format!("{first:.2} ms"));
    r.info(
        "request → response headers p50 / max",
        format!("{:.2} / {:.2} ms", h.p50, h.max),
    );
    r.info(
        "replay size",
        format!(
            "{} ({:.0} B/frame)",
            mib(bytes as f64),
            bytes as f64 / args.frames as f64
        ),
    );
    r.info(
        "daemon write syscalls per replay",
        format!(
            "{writes:.0} ({:.1} frames, {:.1} KiB per write)",
            args.frames as f64 / writes.max(1.0),
            bytes as f64 / writes.max(1.0) / 1024.0
        ),
    );
    r.info(
        "replay throughput (p50)",
        format!("{:.0} frames/s", args.frames as f64 / (t.p50 / 1000.0)),
    );
    r.set("params", json!({"frames": args.frames, "reps": args.reps}));
    r.set("replay_ms", t.json());
    r.set("headers_ms", h.json());
    r.set("replay_bytes", bytes);
    r.set("daemon_writes_per_replay", r3(writes));
    r.set("first_ms", Value::from(r3(first)));
    Ok(r)
}
