//! `latency-inproc`: what the bus alone adds to latency, in this process.
//!
//! A publisher thread calls [`Bus::publish`] at an exact rate with
//! `agent_message_chunk` frames whose text is `t<ns since a shared
//! Instant>`; subscribers are [`Subscription`] tasks on this process's
//! runtime and subtract. No HTTP, no agent: the queue, the wake-up and the
//! scheduling, which `latency` (the whole path) can be compared with.
//!
//! [`Subscription`]: switchyard_server::bus::Subscription

use std::time::{Duration, Instant};

use anyhow::Result;
use clap::Args;
use serde_json::json;
use switchyard_core::Frame;
use switchyard_server::bus::{Bus, BusConfig};

use crate::client::number_after;
use crate::report::{Report, Summary, percentile, r3, thousands};

/// `latency-inproc` options.
#[derive(Args, Clone, Debug)]
pub struct InprocArgs {
    /// Subscribers.
    #[arg(long, default_value_t = 100)]
    pub clients: usize,
    /// Frames per second, paced exactly.
    #[arg(long, default_value_t = 2000)]
    pub rate: u64,
    /// Seconds to publish for.
    #[arg(long, default_value_t = 10)]
    pub duration_secs: u64,
}

const END: &str = "\"text\":\"end\"";
const STAMP: &str = "\"text\":\"t";

fn chunk(text: &str) -> Frame {
    Frame::new(
        "session_update",
        json!({"update": {"sessionUpdate": "agent_message_chunk",
                          "content": {"type": "text", "text": text}}}),
    )
}

/// Publishes `rate` stamped chunks per second for `dur`, then `end`;
/// returns how many were stamped and the time spent inside `publish`.
fn publisher(bus: Bus, base: Instant, rate: u64, dur: Duration) -> (u64, Vec<f64>) {
    let period = Duration::from_secs_f64(1.0 / rate as f64);
    let start = Instant::now();
    let mut next = start;
    let mut n = 0;
    let mut cost = Vec::new();
    while next < start + dur {
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        }
        let stamp = base.elapsed().as_nanos();
        let frame = chunk(&format!("t{stamp}"));
        let t = Instant::now();
        bus.publish(frame);
        cost.push(t.elapsed().as_secs_f64() * 1e6);
        n += 1;
        next += period;
    }
    bus.publish(chunk("end"));
    (n, cost)
}

/// Runs the scenario.
pub async fn run(args: &InprocArgs) -> Result<Report> {
    let dur = Duration::from_secs(args.duration_secs);
    let base = Instant::now();
    let bus = Bus::new(BusConfig {
        max_subscribers: args.clients + 16,
        ..BusConfig::default()
    });
    let mut tasks = Vec::new();
    for _ in 0..args.clients {
        let mut sub = bus.subscribe(None)?;
        tasks.push(tokio::spawn(async move {
            let mut v = Vec::new();
            while let Some(o) = sub.next().await {
                if let Some(stamp) = number_after(&o.json, STAMP) {
                    let now = base.elapsed().as_nanos() as f64;
                    v.push((now - stamp as f64) / 1e6);
                } else if o.json.contains(END) {
                    break;
                }
            }
            v
        }));
    }
    let (b, rate) = (bus.clone(), args.rate);
    let (published, mut cost) =
        tokio::task::spawn_blocking(move || publisher(b, base, rate, dur)).await?;
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await?);
    }
    let s = Summary::of(&mut lat);
    let p999 = percentile(&lat, 99.9);
    let c = Summary::of(&mut cost);

    let mut r = Report::new("latency-inproc");
    r.info(
        "bus publish → subscriber p50 / p99 (ms)",
        format!("{:.3} / {:.3}", s.p50, s.p99),
    );
    r.info("… p99.9 / max (ms)", format!("{p999:.3} / {:.3}", s.max));
    r.info(
        format!("Bus::publish with {} subscribers p50 / p99", args.clients),
        format!("{:.1} / {:.1} µs", c.p50, c.p99),
    );
    r.info(
        "samples (frames × subscribers)",
        format!(
            "{} of {}",
            thousands(s.n as u64),
            thousands(published * args.clients as u64)
        ),
    );
    r.note("no HTTP and no agent: compare with `latency` for the whole path");
    r.set(
        "params",
        json!({"clients": args.clients, "rate": args.rate, "duration_s": args.duration_secs}),
    );
    r.set("latency_ms", s.json());
    r.set("p999_ms", r3(p999));
    r.set("publish_us", c.json());
    r.set("published", published);
    Ok(r)
}
