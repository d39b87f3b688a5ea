//! `create`: `POST /session` with the demo agent (spawn it, ACP
//! `initialize` + `session/new`), one after another, each closed after.

use std::path::Path;
use std::time::Instant;

use anyhow::Result;
use clap::Args;
use serde_json::json;

use crate::client::Api;
use crate::daemon::Daemon;
use crate::report::{Report, Summary};

/// `POST /session` p50.
const TARGET_P50_MS: f64 = 50.0;

/// `create` options.
#[derive(Args, Clone, Debug)]
pub struct CreateArgs {
    /// Sessions to create (and close) sequentially.
    #[arg(long, default_value_t = 50)]
    pub sessions: usize,
}

/// Runs the scenario.
pub async fn run(bin: &Path, args: &CreateArgs) -> Result<Report> {
    let d = Daemon::start(bin, &[]).await?;
    let api = Api::new(d.url(), d.token.clone());
    let cwd = d.workspace()?;
    let mut create_ms = Vec::with_capacity(args.sessions);
    let mut close_ms = Vec::with_capacity(args.sessions);
    let mut failed = None;
    for i in 0..args.sessions {
        let t0 = Instant::now();
        let (sid, cid) = match api.create_session(&cwd).await {
            Ok(x) => x,
            Err(e) => {
                failed = Some(format!("session #{} failed: {e:#}", i + 1));
                break;
            }
        };
        create_ms.push(t0.elapsed().as_secs_f64() * 1000.0);
        let t1 = Instant::now();
        api.close(&sid, &cid).await?;
        close_ms.push(t1.elapsed().as_secs_f64() * 1000.0);
    }
    // Closed sessions are still listed (and still count towards
    // --max-sessions) unless the daemon forgets them.
    let listed = api.list_count().await?;
    d.stop().await?;

    let first = create_ms.first().copied().unwrap_or(0.0);
    let c = Summary::of(&mut create_ms);
    let x = Summary::of(&mut close_ms);
    let mut r = Report::new("create");
    r.target(
        "POST /session (demo agent) p50",
        format!("{:.2} ms", c.p50),
        format!("≤ {TARGET_P50_MS} ms"),
        c.p50 <= TARGET_P50_MS && failed.is_none(),
    );
    r.info(
        "… p99 / max / first",
        format!("{:.2} / {:.2} / {first:.2} ms", c.p99, c.max),
    );
    r.info(
        "DELETE /session p50 / p99",
        format!("{:.2} / {:.2} ms", x.p50, x.p99),
    );
    r.info(
        "sessions created / still listed after closing",
        format!("{} / {listed}", c.n),
    );
    if let Some(f) = &failed {
        r.note(f.clone());
    }
    r.set("params", json!({"sessions": args.sessions}));
    r.set("create_ms", c.json());
    r.set("close_ms", x.json());
    r.set("listed_after_close", listed);
    r.set("failure", failed);
    Ok(r)
}
