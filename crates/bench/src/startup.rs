//! `startup`: spawning `switchyard serve` until its port accepts a
//! connection.
//!
//! The port is chosen up front (bind 127.0.0.1:0, note it, close it) so the
//! bench can poll `connect()` from the moment of `spawn()` without waiting
//! for the stdout line; the listening line and the first `GET /health` are
//! timed as well.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::json;

use crate::client::Api;
use crate::daemon::Spawned;
use crate::report::{Report, Summary};

/// Spawn → accepting connections.
const TARGET_MS: f64 = 50.0;

/// `startup` options.
#[derive(Args, Clone, Debug)]
pub struct StartupArgs {
    /// Daemons to start (one after the other).
    #[arg(long, default_value_t = 20)]
    pub runs: usize,
}

fn free_port() -> Result<SocketAddr> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?)
}

/// Polls `connect()` every 50 µs until it succeeds; the time since `from`.
fn wait_accepting(addr: SocketAddr, from: Instant) -> Result<Duration> {
    let deadline = from + Duration::from_secs(20);
    loop {
        if TcpStream::connect(addr).is_ok() {
            return Ok(from.elapsed());
        }
        if Instant::now() > deadline {
            bail!("{addr} did not accept within 20 s");
        }
        std::thread::sleep(Duration::from_micros(50));
    }
}

/// Runs the scenario.
pub async fn run(bin: &Path, args: &StartupArgs) -> Result<Report> {
    let mut accept_ms = Vec::new();
    let mut line_ms = Vec::new();
    let mut health_ms = Vec::new();
    for _ in 0..args.runs {
        let addr = free_port()?;
        let spawned = Spawned::spawn(bin, &addr.to_string(), &[])?;
        let from = spawned.spawned_at;
        let accepted = tokio::task::spawn_blocking(move || wait_accepting(addr, from)).await??;
        let d = spawned.listening().await?;
        let api = Api::new(d.url(), d.token.clone());
        let status = api.health().await.context("GET /health")?;
        let health = from.elapsed();
        if !status.is_success() {
            bail!("GET /health: {status}");
        }
        accept_ms.push(accepted.as_secs_f64() * 1000.0);
        line_ms.push(d.time_to_listening.as_secs_f64() * 1000.0);
        health_ms.push(health.as_secs_f64() * 1000.0);
        d.stop().await?;
    }
    let first = accept_ms.first().copied().unwrap_or(0.0);
    let a = Summary::of(&mut accept_ms);
    let l = Summary::of(&mut line_ms);
    let h = Summary::of(&mut health_ms);
    let mut r = Report::new("startup");
    r.ms_targets("spawn → port accepts, p50", &a, TARGET_MS);
    r.info("… first run", format!("{first:.2} ms"));
    r.info(
        "spawn → \"listening\" on stdout p50 / max",
        format!("{:.2} / {:.2} ms", l.p50, l.max),
    );
    r.info(
        "spawn → first GET /health answered p50 / max",
        format!("{:.2} / {:.2} ms", h.p50, h.max),
    );
    r.set("params", json!({"runs": args.runs}));
    r.set("accept_ms", a.json());
    r.set("listening_line_ms", l.json());
    r.set("health_ms", h.json());
    Ok(r)
}
