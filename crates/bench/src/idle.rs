//! `idle`: what many idle SSE clients on one session cost the daemon in
//! memory (VmRSS from `/proc/<pid>/status`).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::json;
use tokio::sync::{Barrier, oneshot};

use crate::client::Api;
use crate::daemon::{self, Daemon};
use crate::report::{Report, mib, r3};

/// Daemon RSS that 1,000 idle clients may add.
const TARGET_ADDED_BYTES: f64 = 50.0 * 1024.0 * 1024.0;

/// `idle` options.
#[derive(Args, Clone, Debug)]
pub struct IdleArgs {
    /// Idle SSE clients, each attached as an observer.
    #[arg(long, default_value_t = 1000)]
    pub clients: usize,
    /// The daemon's `--max-subscribers` (its default, 1024, is per session).
    #[arg(long, default_value_t = 2000)]
    pub max_subscribers: usize,
    /// Open every stream with one observer's client id instead of
    /// attaching one observer per stream (isolates the per-stream cost from
    /// the per-attached-client growth of the snapshot).
    #[arg(long)]
    pub shared_client: bool,
    /// Seconds to hold the streams open before measuring.
    #[arg(long, default_value_t = 3)]
    pub hold_secs: u64,
}

fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

fn rss_of(pid: u32) -> Result<u64> {
    daemon::rss(pid).context("cannot read the daemon's VmRSS")
}

/// Runs the scenario.
pub async fn run(bin: &Path, args: &IdleArgs) -> Result<Report> {
    let bench_nofile = daemon::raise_nofile();
    let extra = vec![
        "--max-subscribers".to_string(),
        args.max_subscribers.to_string(),
    ];
    let d = Daemon::start(bin, &extra).await?;
    let daemon_nofile = daemon::fd_limit(d.pid).unwrap_or(0);
    if (daemon_nofile as usize) < args.clients + 64 {
        bail!(
            "the daemon's fd limit ({daemon_nofile}) is too low for {} clients",
            args.clients
        );
    }
    let api = Api::new(d.url(), d.token.clone());
    let (sid, _ctl) = api.create_session(&d.workspace()?).await?;
    // One stream opened and closed first, so one-time allocations (the
    // first connection, the first snapshot) are in the baseline.
    {
        let cid = api.attach(&sid, "observer").await?;
        let mut s = api.events(&sid, &cid, None).await?;
        s.next().await.context("warm-up snapshot")?;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss0 = rss_of(d.pid)?;
    let fds0 = fd_count(d.pid);

    let t_attach = Instant::now();
    let mut cids = Vec::with_capacity(args.clients);
    if args.shared_client {
        let one = api.attach(&sid, "observer").await?;
        cids.resize(args.clients, one);
    } else {
        for _ in 0..args.clients {
            cids.push(api.attach(&sid, "observer").await?);
        }
    }
    let attach_s = t_attach.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_attached = rss_of(d.pid)?;

    // Each stream: read the snapshot, report in, then sit idle (reading
    // heartbeats or anything else) until told to stop.
    let ready = Arc::new(Barrier::new(args.clients + 1));
    let mut stops = Vec::with_capacity(args.clients);
    let mut tasks = Vec::with_capacity(args.clients);
    let t_connect = Instant::now();
    for cid in cids {
        let mut s = api.events(&sid, &cid, None).await?;
        let (stop_tx, mut stop_rx) = oneshot::channel::<()>();
        stops.push(stop_tx);
        let ready = ready.clone();
        tasks.push(tokio::spawn(async move {
            let first = s.next().await;
            let snapshot_len = first
                .as_ref()
                .filter(|e| e.event == "session_snapshot")
                .map(|e| e.data.len());
            ready.wait().await;
            let mut later = 0u64;
            loop {
                tokio::select! {
                    _ = &mut stop_rx => break,
                    ev = s.next() => match ev {
                        Some(_) => later += 1,
                        None => break,
                    },
                }
            }
            (snapshot_len, later)
        }));
    }
    tokio::time::timeout(Duration::from_secs(120), ready.wait())
        .await
        .context("not every client got its snapshot within 120 s")?;
    let connect_s = t_connect.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(args.hold_secs)).await;
    let rss1 = rss_of(d.pid)?;
    let hwm = daemon::status_kb(d.pid, "VmHWM").unwrap_or(0);
    let fds1 = fd_count(d.pid);
    let subscribers = api.session(&sid).await?["subscribers"]
        .as_u64()
        .unwrap_or(0);
    let agent_rss: u64 = daemon::children(d.pid)
        .iter()
        .filter_map(|p| daemon::rss(*p))
        .sum();

    for s in stops {
        let _ = s.send(());
    }
    let mut snapshots = Vec::new();
    let mut later = 0;
    for t in tasks {
        let (snap, l) = t.await?;
        snapshots.push(snap.unwrap_or(0));
        later += l;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss2 = rss_of(d.pid)?;
    d.stop().await?;

    let added = rss1.saturating_sub(rss0) as f64;
    let per_client = added / args.clients as f64;
    let snap_first = snapshots.first().copied().unwrap_or(0);
    let snap_last = snapshots.last().copied().unwrap_or(0);
    let snap_total: usize = snapshots.iter().sum();

    let mut r = Report::new("idle");
    r.target(
        format!("daemon RSS added by {} idle streams", args.clients),
        mib(added),
        "≤ 50.0 MiB",
        added <= TARGET_ADDED_BYTES,
    );
    r.info("per client", format!("{:.1} KiB", per_client / 1024.0));
    r.info(
        "RSS: baseline → attached → streaming → closed",
        format!(
            "{} → {} → {} → {}",
            mib(rss0 as f64),
            mib(rss_attached as f64),
            mib(rss1 as f64),
            mib(rss2 as f64)
        ),
    );
    r.info("daemon peak RSS (VmHWM)", mib(hwm as f64));
    r.info("agent RSS (not counted)", mib(agent_rss as f64));
    r.info(
        "subscribers / daemon fds open",
        format!("{subscribers} / {fds1} (baseline {fds0})"),
    );
    r.info(
        "fd limit: daemon / bench (soft NOFILE)",
        format!("{daemon_nofile} / {bench_nofile}"),
    );
    r.info(
        "attach all / connect all + snapshots",
        format!("{attach_s:.2} s / {connect_s:.2} s"),
    );
    r.info(
        "snapshot size: first / last client; all",
        format!("{snap_first} B / {snap_last} B; {}", mib(snap_total as f64)),
    );
    r.info(
        "frames received while idle (all clients)",
        later.to_string(),
    );
    r.note(format!(
        "the daemon inherits the bench's NOFILE limit ({daemon_nofile}); \
         run with --max-subscribers {}",
        args.max_subscribers
    ));
    r.set(
        "params",
        json!({"clients": args.clients, "max_subscribers": args.max_subscribers,
               "hold_s": args.hold_secs, "shared_client": args.shared_client}),
    );
    r.set(
        "rss_bytes",
        json!({"baseline": rss0, "attached": rss_attached, "streaming": rss1,
               "closed": rss2, "hwm": hwm}),
    );
    r.set("added_bytes", added as u64);
    r.set("per_client_bytes", r3(per_client));
    r.set("daemon_fd_limit", daemon_nofile);
    r.set("bench_fd_limit", bench_nofile);
    r.set("daemon_fds", fds1);
    r.set("subscribers", subscribers);
    r.set(
        "snapshot_bytes",
        json!({"first": snap_first, "last": snap_last, "total": snap_total}),
    );
    r.set("attach_s", r3(attach_s));
    r.set("connect_s", r3(connect_s));
    Ok(r)
}
