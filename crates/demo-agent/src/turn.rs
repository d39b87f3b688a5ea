//! One prompt turn: the slash-command interpreter.

use std::sync::Arc;
use std::time::Duration;

use agent_client_protocol::v1::ConnectionTo;
use agent_client_protocol::v1::schema::{
    CreateTerminalRequest, KillTerminalRequest, PermissionOption, PermissionOptionKind,
    ReleaseTerminalRequest, RequestPermissionOutcome, RequestPermissionRequest, StopReason,
    TerminalOutputRequest, ToolCallLocation, ToolCallStatus, ToolCallUpdate, ToolCallUpdateFields,
    ToolKind, WaitForTerminalExitRequest, WriteTextFileRequest,
};
use agent_client_protocol::{Client, Error};
use serde_json::{Value, json};

use crate::agent::Shared;
use crate::session::{CancelSignal, Session};
use crate::{CRASH_EXIT_CODE, wire};

/// `/flood` sends a flush barrier every this many chunks and waits for the
/// previous one, so at most two batches are ever queued.
const FLOOD_BATCH: u64 = 1024;
const SLOW_CHUNKS: u32 = 600;
const SLOW_INTERVAL: Duration = Duration::from_millis(50);
/// `/echo` text is cut into at least three pieces of about this many chars.
const ECHO_PIECE_CHARS: usize = 32;
/// Keeps one `/run` from pulling an unbounded amount of output back.
const RUN_OUTPUT_LIMIT: u64 = 1 << 20;
const ALLOW: &str = "allow";
const REJECT: &str = "reject";

/// How a turn ended.
pub(crate) enum TurnEnd {
    Stop(StopReason),
    /// `/crash`: the caller must not answer the prompt.
    Crash(i32),
}

type TurnResult = Result<StopReason, Error>;

pub(crate) struct Turn {
    shared: Arc<Shared>,
    session: Arc<Session>,
    cx: ConnectionTo<Client>,
    cancel: CancelSignal,
}

impl Turn {
    pub(crate) fn new(
        shared: Arc<Shared>,
        session: Arc<Session>,
        cx: ConnectionTo<Client>,
        cancel: CancelSignal,
    ) -> Self {
        Self {
            shared,
            session,
            cx,
            cancel,
        }
    }

    pub(crate) async fn run(mut self, text: &str) -> Result<TurnEnd, Error> {
        // Recorded, not sent: the client already shows what it sent, but a
        // later `session/load` must replay it.
        self.session
            .record(&wire::text_chunk(wire::USER_MESSAGE, text));
        let reason = match split_command(text) {
            Some(("echo", args)) => self.echo(args)?,
            Some(("write", args)) => self.write(args).await?,
            Some(("flood", args)) => self.flood(args).await?,
            Some(("slow", _)) => self.slow().await?,
            Some(("crash", _)) => return self.crash().await,
            Some(("mode", args)) => self.mode(args.trim())?,
            Some(("model", args)) => self.model(args.trim())?,
            Some(("plan", _)) => self.plan()?,
            Some(("think", _)) => self.think()?,
            Some(("run", args)) => self.run_command(args.trim()).await?,
            Some(("hold", _)) => {
                self.shared.hold();
                self.say("Holding model and mode changes until /release.")?;
                StopReason::EndTurn
            }
            Some(("release", _)) => {
                let n = self.shared.release()?;
                self.say(&format!("Released {n} held change(s)."))?;
                StopReason::EndTurn
            }
            Some(("state", _)) => {
                self.say(&format!(
                    "mode={} model={}",
                    self.session.mode(),
                    self.session.model()
                ))?;
                StopReason::EndTurn
            }
            _ => {
                self.say("You said: ")?;
                self.say(text)?;
                StopReason::EndTurn
            }
        };
        // Once a cancel has arrived the turn must end `cancelled`, even if
        // the command had nothing left to stop.
        Ok(TurnEnd::Stop(if self.cancel.is_cancelled() {
            StopReason::Cancelled
        } else {
            reason
        }))
    }

    /// Sends an update and records it for replay.
    fn send(&self, update: Value) -> Result<(), Error> {
        self.session.record(&update);
        self.notify(&update)
    }

    /// Sends an update that describes state, not conversation, so is not
    /// replayed (the load response carries the current mode and model).
    fn notify(&self, update: &Value) -> Result<(), Error> {
        self.cx
            .send_notification(wire::session_update(self.session.id(), update))
    }

    fn say(&self, text: &str) -> Result<(), Error> {
        self.send(wire::text_chunk(wire::AGENT_MESSAGE, text))
    }

    fn echo(&self, text: &str) -> TurnResult {
        for piece in split_pieces(text) {
            self.say(piece)?;
        }
        Ok(StopReason::EndTurn)
    }

    async fn flood(&mut self, args: &str) -> TurnResult {
        let Ok(count) = args.trim().parse::<u64>() else {
            self.say("Usage: /flood N (a whole number of chunks)")?;
            return Ok(StopReason::EndTurn);
        };
        let mut in_flight = None;
        for i in 0..count {
            if i % FLOOD_BATCH == 0 {
                if self.cancel.is_cancelled() {
                    return Ok(StopReason::Cancelled);
                }
                let next = self.shared.barriers.start(&self.cx);
                if let Some(previous) = in_flight.replace(next) {
                    tokio::select! {
                        _ = previous => {}
                        () = self.cancel.cancelled() => return Ok(StopReason::Cancelled),
                    }
                }
            }
            self.say(&format!("chunk {i}\n"))?;
        }
        Ok(StopReason::EndTurn)
    }

    async fn slow(&mut self) -> TurnResult {
        for i in 1..=SLOW_CHUNKS {
            self.say(&format!("slow chunk {i}/{SLOW_CHUNKS}\n"))?;
            tokio::select! {
                () = tokio::time::sleep(SLOW_INTERVAL) => {}
                () = self.cancel.cancelled() => return Ok(StopReason::Cancelled),
            }
        }
        Ok(StopReason::EndTurn)
    }

    async fn crash(&self) -> Result<TurnEnd, Error> {
        self.say(&format!("Crashing with exit status {CRASH_EXIT_CODE}…\n"))?;
        // The chunk must leave the process before the process does.
        self.shared.barriers.flush(&self.cx).await;
        Ok(TurnEnd::Crash(CRASH_EXIT_CODE))
    }

    fn mode(&self, mode: &str) -> TurnResult {
        if self.session.set_mode(mode) {
            self.notify(&wire::current_mode(mode))?;
            self.say(&format!("Mode set to {mode}."))?;
        } else {
            self.say(&format!(
                "Unknown mode `{mode}`. Available: {}.",
                wire::mode_ids()
            ))?;
        }
        Ok(StopReason::EndTurn)
    }

    fn model(&self, model: &str) -> TurnResult {
        if self.session.set_model(model) {
            self.notify(&wire::config_option_update(model))?;
            self.say(&format!("Model set to {model}."))?;
        } else {
            self.say(&format!(
                "Unknown model `{model}`. Available: {}.",
                wire::model_ids()
            ))?;
        }
        Ok(StopReason::EndTurn)
    }

    fn plan(&self) -> TurnResult {
        self.send(wire::plan())?;
        self.say("Here is the plan.")?;
        Ok(StopReason::EndTurn)
    }

    fn think(&self) -> TurnResult {
        for thought in [
            "Let me think about this. ",
            "Weighing a few options. ",
            "Settled.",
        ] {
            self.send(wire::text_chunk(wire::AGENT_THOUGHT, thought))?;
        }
        self.say("Done thinking.")?;
        Ok(StopReason::EndTurn)
    }

    fn fail_tool_call(&self, id: &str, message: Option<&str>) -> Result<(), Error> {
        let mut update = json!({
            "sessionUpdate": "tool_call_update",
            "toolCallId": id,
            "status": "failed",
        });
        if let Some(message) = message {
            update["content"] = json!([wire::text_content(message)]);
        }
        self.send(update)
    }

    async fn write(&mut self, args: &str) -> TurnResult {
        let Some((path, content)) = split_write_args(args) else {
            self.say("Usage: /write PATH TEXT")?;
            return Ok(StopReason::EndTurn);
        };
        let absolute = self.session.cwd().join(path);
        let id = new_tool_call_id();
        self.send(json!({
            "sessionUpdate": "tool_call",
            "toolCallId": id,
            "title": format!("Write {path}"),
            "kind": "edit",
            "status": "pending",
            "locations": [{ "path": absolute }],
            "rawInput": { "path": absolute, "content": content },
        }))?;

        let permission = RequestPermissionRequest::new(
            self.session.id().to_owned(),
            ToolCallUpdate::new(
                id.clone(),
                ToolCallUpdateFields::new()
                    .title(format!("Write {path}"))
                    .kind(ToolKind::Edit)
                    .status(ToolCallStatus::Pending)
                    .locations(vec![ToolCallLocation::new(&absolute)])
                    .raw_input(json!({ "path": absolute, "content": content })),
            ),
            vec![
                PermissionOption::new(ALLOW, "Allow", PermissionOptionKind::AllowOnce),
                PermissionOption::new(REJECT, "Reject", PermissionOptionKind::RejectOnce),
            ],
        );
        // Dropping the pending request on cancel tells the client to stop
        // asking (`$/cancel_request`).
        let answer = tokio::select! {
            answer = self.cx.send_request(permission).block_task() => answer,
            () = self.cancel.cancelled() => {
                self.fail_tool_call(&id, None)?;
                return Ok(StopReason::Cancelled);
            }
        };
        let outcome = match answer {
            Ok(response) => response.outcome,
            Err(error) => {
                let message = format!("Could not ask for permission: {}", error.message);
                self.fail_tool_call(&id, Some(&message))?;
                self.say(&message)?;
                return Ok(StopReason::EndTurn);
            }
        };
        match outcome {
            RequestPermissionOutcome::Selected(selected) if &*selected.option_id.0 == ALLOW => {}
            RequestPermissionOutcome::Selected(_) => {
                self.fail_tool_call(&id, None)?;
                self.say("Permission denied")?;
                return Ok(StopReason::EndTurn);
            }
            // `Cancelled`, and whatever later schema versions add.
            _ => {
                self.fail_tool_call(&id, None)?;
                return Ok(StopReason::Cancelled);
            }
        }

        let write = WriteTextFileRequest::new(
            self.session.id().to_owned(),
            absolute.clone(),
            content.to_owned(),
        );
        let written = tokio::select! {
            written = self.cx.send_request(write).block_task() => written,
            () = self.cancel.cancelled() => {
                self.fail_tool_call(&id, None)?;
                return Ok(StopReason::Cancelled);
            }
        };
        match written {
            Ok(_) => {
                self.send(json!({
                    "sessionUpdate": "tool_call_update",
                    "toolCallId": id,
                    "status": "completed",
                    "content": [{
                        "type": "diff",
                        "path": absolute,
                        "oldText": null,
                        "newText": content,
                    }],
                }))?;
                self.say(&format!("Wrote {} bytes to {path}.", content.len()))?;
            }
            Err(error) => {
                self.fail_tool_call(&id, Some(&error.message))?;
                self.say(&format!("Could not write {path}: {}", error.message))?;
            }
        }
        Ok(StopReason::EndTurn)
    }

    async fn run_command(&mut self, command: &str) -> TurnResult {
        if !self.shared.client_has_terminal() {
            self.say(
                "This client did not advertise the `terminal` capability, so /run cannot run anything.",
            )?;
            return Ok(StopReason::EndTurn);
        }
        if command.is_empty() {
            self.say("Usage: /run COMMAND")?;
            return Ok(StopReason::EndTurn);
        }
        let session_id = self.session.id().to_owned();
        let id = new_tool_call_id();
        let title = format!("Run {command}");
        // The command goes over whole, with no args: the client runs it
        // through `sh -c`, so pipes and quoting behave as typed.
        let create = CreateTerminalRequest::new(session_id.clone(), command)
            .args(Vec::new())
            .cwd(self.session.cwd())
            .output_byte_limit(RUN_OUTPUT_LIMIT);
        let created = tokio::select! {
            created = self.cx.send_request(create).block_task() => created,
            () = self.cancel.cancelled() => return Ok(StopReason::Cancelled),
        };
        let terminal_id = match created {
            Ok(created) => created.terminal_id,
            Err(error) => {
                self.send(json!({
                    "sessionUpdate": "tool_call",
                    "toolCallId": id,
                    "title": title,
                    "kind": "execute",
                    "status": "failed",
                    "content": [wire::text_content(&error.message)],
                    "rawInput": { "command": command },
                }))?;
                self.say(&format!("Could not start `{command}`: {}", error.message))?;
                return Ok(StopReason::EndTurn);
            }
        };
        self.send(json!({
            "sessionUpdate": "tool_call",
            "toolCallId": id,
            "title": title,
            "kind": "execute",
            "status": "in_progress",
            "content": [{ "type": "terminal", "terminalId": terminal_id }],
            "rawInput": { "command": command },
        }))?;

        let wait = WaitForTerminalExitRequest::new(session_id.clone(), terminal_id.clone());
        let exited = tokio::select! {
            exited = self.cx.send_request(wait).block_task() => exited,
            () = self.cancel.cancelled() => {
                // Fire and forget: the turn ends now, and the client handles
                // kill before release because requests arrive in order.
                self.cx
                    .send_request(KillTerminalRequest::new(session_id.clone(), terminal_id.clone()))
                    .detach();
                self.cx
                    .send_request(ReleaseTerminalRequest::new(session_id, terminal_id))
                    .detach();
                self.fail_tool_call(&id, Some("Cancelled"))?;
                return Ok(StopReason::Cancelled);
            }
        };
        let output = self
            .cx
            .send_request(TerminalOutputRequest::new(
                session_id.clone(),
                terminal_id.clone(),
            ))
            .block_task()
            .await;
        // Release whatever happened above; its failure changes nothing here.
        let _ = self
            .cx
            .send_request(ReleaseTerminalRequest::new(session_id, terminal_id))
            .block_task()
            .await;

        let (exit_code, signal) = match &exited {
            Ok(exited) => (
                exited.exit_status.exit_code,
                exited.exit_status.signal.clone(),
            ),
            Err(_) => (None, None),
        };
        match output {
            Ok(output) => {
                self.send(json!({
                    "sessionUpdate": "tool_call_update",
                    "toolCallId": id,
                    "status": "completed",
                    "content": [wire::text_content(&output.output)],
                    "rawOutput": {
                        "exitCode": exit_code,
                        "signal": signal,
                        "truncated": output.truncated,
                    },
                }))?;
                let status = match (exit_code, signal) {
                    (Some(code), _) => format!("exited with code {code}"),
                    (None, Some(signal)) => format!("was killed by {signal}"),
                    (None, None) => "finished".to_owned(),
                };
                self.say(&format!("`{command}` {status}."))?;
            }
            Err(error) => {
                self.fail_tool_call(&id, Some(&error.message))?;
                self.say(&format!(
                    "Could not read the output of `{command}`: {}",
                    error.message
                ))?;
            }
        }
        Ok(StopReason::EndTurn)
    }
}

fn new_tool_call_id() -> String {
    // Unique across processes: a loaded session's replayed tool calls were
    // numbered by an earlier process.
    format!("call-{}", uuid::Uuid::new_v4().simple())
}

/// `"/name rest"` → `("name", "rest")`.
fn split_command(text: &str) -> Option<(&str, &str)> {
    text.trim_start().strip_prefix('/').map(split_word)
}

/// `"PATH TEXT"` → `("PATH", "TEXT")`.
fn split_write_args(args: &str) -> Option<(&str, &str)> {
    Some(split_word(args.trim_start())).filter(|(path, _)| !path.is_empty())
}

/// Splits off the first word and drops one separator after it; the rest is
/// kept verbatim, so `/echo` returns exactly its text.
fn split_word(text: &str) -> (&str, &str) {
    let end = text.find(char::is_whitespace).unwrap_or(text.len());
    let (word, rest) = text.split_at(end);
    let mut rest = rest.chars();
    rest.next();
    (word, rest.as_str())
}

/// Cuts `text` on char boundaries into at least three pieces (some may be
/// empty when the text is shorter than that).
fn split_pieces(text: &str) -> Vec<&str> {
    let bounds: Vec<usize> = text
        .char_indices()
        .map(|(index, _)| index)
        .chain(std::iter::once(text.len()))
        .collect();
    let chars = bounds.len() - 1;
    let pieces = chars.div_ceil(ECHO_PIECE_CHARS).max(3);
    (0..pieces)
        .map(|i| &text[bounds[i * chars / pieces]..bounds[(i + 1) * chars / pieces]])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_split_after_one_separator() {
        assert_eq!(split_command("/echo  two"), Some(("echo", " two")));
        assert_eq!(split_command("/plan"), Some(("plan", "")));
        assert_eq!(split_command("  /mode plan"), Some(("mode", "plan")));
        assert_eq!(split_command("hello"), None);
        assert_eq!(
            split_write_args("a/b.txt hello world\n"),
            Some(("a/b.txt", "hello world\n"))
        );
        assert_eq!(split_write_args("  x.txt"), Some(("x.txt", "")));
        assert_eq!(split_write_args(""), None);
    }

    #[test]
    fn echo_pieces_cover_the_text_on_char_boundaries() {
        for text in ["", "ab", "héllo wörld", &"ü".repeat(200)] {
            let pieces = split_pieces(text);
            assert!(pieces.len() >= 3);
            assert_eq!(pieces.concat(), text);
        }
        assert!(split_pieces("abcdef").iter().all(|p| p.len() == 2));
    }
}
