//! `switchyard-bench paced-agent`: a minimal ACP agent on stdin/stdout whose
//! only trick is publishing at an exact rate, for `latency`.
//!
//! The demo agent streams as fast as it can; a latency figure needs a steady
//! rate instead. The daemon runs this binary as an agent
//! (`--agent paced="switchyard-bench paced-agent"`); a prompt whose text is
//! `RATE MILLIS` makes it send RATE `agent_message_chunk`s per second for
//! MILLIS ms, evenly spaced, each with the text `t<ns since the Unix
//! epoch>` taken just before the line is written. Receivers on the same
//! machine subtract, so a sample is agent write → client parse with
//! nanosecond resolution: the agent pipe, the daemon's ACP decoding, the
//! session actor, the bus, the SSE write and the client's read.

use std::io::{BufRead, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

const SESSION_ID: &str = "paced-1";

/// Nanoseconds since the Unix epoch.
pub fn unix_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

fn send(out: &Mutex<std::io::Stdout>, msg: &Value) {
    let mut line = msg.to_string();
    line.push('\n');
    let mut o = out.lock().unwrap_or_else(|e| e.into_inner());
    // A closed stdout means the daemon is gone; the stdin loop ends too.
    let _ = o.write_all(line.as_bytes()).and_then(|()| o.flush());
}

fn respond(out: &Mutex<std::io::Stdout>, id: &Value, result: Value) {
    send(out, &json!({"jsonrpc": "2.0", "id": id, "result": result}));
}

/// Sends the paced chunks for one prompt, then answers it.
fn paced_turn(out: &Mutex<std::io::Stdout>, id: &Value, text: &str) {
    let mut words = text.split_whitespace();
    let rate: u64 = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
    let millis: u64 = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
    if rate > 0 && millis > 0 {
        let period = Duration::from_secs_f64(1.0 / rate as f64);
        let start = Instant::now();
        let end = start + Duration::from_millis(millis);
        let mut next = start;
        while next < end {
            let now = Instant::now();
            if next > now {
                std::thread::sleep(next - now);
            }
            let stamp = unix_ns();
            send(
                out,
                &json!({"jsonrpc": "2.0", "method": "session/update", "params": {
                    "sessionId": SESSION_ID,
                    "update": {"sessionUpdate": "agent_message_chunk",
                               "content": {"type": "text", "text": format!("t{stamp}")}}}}),
            );
            next += period;
        }
    }
    respond(out, id, json!({"stopReason": "end_turn"}));
}

/// Runs the agent until stdin closes.
pub fn run() {
    let out = Arc::new(Mutex::new(std::io::stdout()));
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let Ok(msg) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        let Some(id) = msg.get("id").cloned() else {
            // Notifications (session/cancel, ...) are ignored.
            continue;
        };
        match msg.get("method").and_then(Value::as_str) {
            Some("initialize") => respond(
                &out,
                &id,
                json!({"protocolVersion": 1, "agentCapabilities": {}, "authMethods": []}),
            ),
            Some("session/new") => respond(&out, &id, json!({"sessionId": SESSION_ID})),
            Some("session/prompt") => {
                let text = msg["params"]["prompt"][0]["text"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                let out = out.clone();
                std::thread::spawn(move || paced_turn(&out, &id, &text));
            }
            Some(_) => send(
                &out,
                &json!({"jsonrpc": "2.0", "id": id,
                        "error": {"code": -32601, "message": "method not found"}}),
            ),
            // A response to a request of ours: we send none.
            None => {}
        }
    }
}
