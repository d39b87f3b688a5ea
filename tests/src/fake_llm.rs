//! A fake OpenAI-compatible Chat Completions endpoint for end-to-end tests.
//!
//! Real agents (e.g. `qwen --acp`) are pointed at it with
//! `OPENAI_BASE_URL=<FakeLlm::base_url>`, so they run fully offline and
//! deterministically. One server can serve every test: the reply is chosen
//! from the text of the LAST user message of each request.
//!
//! Built-in behaviours of [`Script::default`] (needles matched
//! case-insensitively; custom rules from [`Script::rule`] are tried first,
//! then the built-in needle that occurs EARLIEST in the text wins):
//!
//! | last user message contains               | reply                                                       |
//! |------------------------------------------|-------------------------------------------------------------|
//! | `say hello`                              | "Hello from the fake model", streamed in several chunks     |
//! | `write the file <path> with <content>`   | tool call `write_file {"file_path", "content"}`             |
//! | `read the file <path>`                   | tool call `read_file {"file_path"}`                         |
//! | `run the command <command line>`         | tool call `run_shell_command {"command", "description"}`    |
//! | `go slow`                                | `tick N ` every 200 ms for 10 min; stops if the client goes |
//! | anything else                            | [`Script::fallback_text`]                                   |
//!
//! When the last message of a request is a tool result (`role: "tool"`), the
//! reply is [`Script::after_tool_text`] instead, so a tool-call turn ends.
//!
//! `<path>` is taken verbatim up to the next whitespace;
//! a relative path is resolved against the working directory the agent puts
//! in its prompt (qwen: "I'm currently working in the directory: …"), when
//! one is found. `<content>` is everything after ` with ` (trailing
//! whitespace trimmed); the literal two characters `\n` become a newline.
//!
//! Requests with `"stream": true` are answered as SSE (`data: {chunk}` lines
//! then `data: [DONE]`); others get one `chat.completion` object. Every request
//! body is recorded ([`FakeLlm::requests`]). The server stops when dropped or
//! on [`FakeLlm::shutdown`]: the listener closes and running streams end.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;

/// What the fake model answers for one request.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// A text answer, streamed in chunks of about `chunk_chars` characters.
    Text(String),
    /// One tool call: `arguments` is serialised to a JSON string and streamed
    /// in several `tool_calls[].function.arguments` deltas.
    ToolCall { name: String, arguments: Value },
    /// A text chunk (`"tick N "`) every `interval`, `chunks` times, then stop.
    /// Ends early (and counts in [`FakeLlm::disconnects`]) when the client
    /// goes away.
    Slow { interval: Duration, chunks: usize },
    /// An HTTP error with an OpenAI-style error body. Note that agents
    /// usually retry 429 and 5xx with backoff.
    HttpError { status: u16, message: String },
}

/// How the fake model behaves. [`Script::default`] has the built-in
/// behaviours described in the module docs; tweak the fields or add rules.
#[derive(Clone, Debug)]
pub struct Script {
    /// Model id reported by `GET /v1/models` and in every chunk.
    pub model: String,
    /// Reply to `say hello`.
    pub hello_text: String,
    /// Reply when the last message is a tool result.
    pub after_tool_text: String,
    /// Reply when nothing matches.
    pub fallback_text: String,
    /// Interval of `go slow` chunks.
    pub slow_interval: Duration,
    /// Number of `go slow` chunks (default: 10 minutes' worth).
    pub slow_chunks: usize,
    /// Name of the agent's file-writing tool (qwen-code: `write_file`).
    pub write_tool: String,
    /// Its path argument (qwen-code: `file_path`).
    pub write_path_arg: String,
    /// Its content argument (qwen-code: `content`).
    pub write_content_arg: String,
    /// Name of the file-reading tool, called with `{"file_path"}`
    /// (qwen-code: `read_file`).
    pub read_tool: String,
    /// Name of the shell tool, called with `{"command", "description"}`
    /// (qwen-code: `run_shell_command`).
    pub shell_tool: String,
    /// Approximate size of text chunks.
    pub chunk_chars: usize,
    /// Custom rules: (case-insensitive needle, reply), tried in order before
    /// the built-in ones.
    pub rules: Vec<(String, Reply)>,
}

impl Default for Script {
    fn default() -> Self {
        Script {
            model: "fake-model".to_string(),
            hello_text: "Hello from the fake model".to_string(),
            after_tool_text: "The tool call finished.".to_string(),
            fallback_text: "This is the fake model: no scripted reply matched.".to_string(),
            slow_interval: Duration::from_millis(200),
            slow_chunks: 3000,
            write_tool: "write_file".to_string(),
            write_path_arg: "file_path".to_string(),
            write_content_arg: "content".to_string(),
            read_tool: "read_file".to_string(),
            shell_tool: "run_shell_command".to_string(),
            chunk_chars: 6,
            rules: Vec::new(),
        }
    }
}

impl Script {
    /// Adds a rule: when the last user message contains `needle`
    /// (case-insensitive), answer with `reply`. Rules are tried in the order
    /// they were added, before the built-in behaviours.
    pub fn rule(mut self, needle: impl Into<String>, reply: Reply) -> Self {
        self.rules.push((needle.into(), reply));
        self
    }

    /// The reply for one request body.
    pub fn reply_for(&self, body: &Value) -> Reply {
        let messages = body
            .get("messages")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        if messages
            .last()
            .and_then(|m| m.get("role"))
            .and_then(Value::as_str)
            == Some("tool")
        {
            return Reply::Text(self.after_tool_text.clone());
        }
        let text = last_user_text(messages).unwrap_or_default();
        // ASCII lowercasing keeps byte offsets, so `lower` indexes `text`.
        let lower = text.to_ascii_lowercase();
        for (needle, reply) in &self.rules {
            if lower.contains(&needle.to_ascii_lowercase()) {
                return reply.clone();
            }
        }
        // Built-in behaviours: the needle that occurs first in the text wins,
        // so a file's content may itself contain another needle.
        let builtin = [
            "go slow",
            "write the file",
            "read the file",
            "run the command",
            "say hello",
        ]
        .into_iter()
        .filter_map(|needle| lower.find(needle).map(|at| (at, needle)))
        .min();
        let Some((at, needle)) = builtin else {
            return Reply::Text(self.fallback_text.clone());
        };
        let rest = text.get(at + needle.len()..).unwrap_or_default().trim();
        match needle {
            "go slow" => Reply::Slow {
                interval: self.slow_interval,
                chunks: self.slow_chunks,
            },
            "write the file" => {
                let (path, content) = parse_write(rest);
                let path = resolve_path(path, messages);
                let mut arguments = serde_json::Map::new();
                arguments.insert(self.write_path_arg.clone(), Value::String(path));
                arguments.insert(self.write_content_arg.clone(), Value::String(content));
                Reply::ToolCall {
                    name: self.write_tool.clone(),
                    arguments: Value::Object(arguments),
                }
            }
            "read the file" => {
                let (path, _) = parse_write(rest);
                Reply::ToolCall {
                    name: self.read_tool.clone(),
                    arguments: json!({ "file_path": resolve_path(path, messages) }),
                }
            }
            "run the command" => Reply::ToolCall {
                name: self.shell_tool.clone(),
                arguments: json!({
                    "command": rest,
                    "description": "Run a command for the test",
                }),
            },
            _ => Reply::Text(self.hello_text.clone()),
        }
    }
}

/// Text of the last `role: "user"` message (string content, or the `text`
/// parts of an array content joined with newlines).
pub fn last_user_text(messages: &[Value]) -> Option<String> {
    let message = messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))?;
    Some(content_text(message.get("content")?))
}

fn content_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// `"<path> with <content>"` → (path, content).
fn parse_write(rest: &str) -> (&str, String) {
    let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
    let path = rest[..end].trim_end_matches(['.', ',', ':', ';']);
    let after = &rest[end..];
    let content = match after.find(" with ") {
        Some(i) => after[i + " with ".len()..].trim_end(),
        None => "",
    };
    (path, content.replace("\\n", "\n"))
}

/// Resolves a relative path against the working directory announced in the
/// prompt ("I'm currently working in the directory: /abs"), if any.
fn resolve_path(path: &str, messages: &[Value]) -> String {
    if path.starts_with('/') {
        return path.to_string();
    }
    match find_cwd(messages) {
        Some(cwd) => format!("{}/{}", cwd.trim_end_matches('/'), path),
        None => path.to_string(),
    }
}

/// The session's working directory as the agent states it in its prompt.
pub fn find_cwd(messages: &[Value]) -> Option<String> {
    const MARKERS: [&str; 2] = [
        "I'm currently working in the directory: ",
        "current working directory: ",
    ];
    for message in messages {
        let text = match message.get("content") {
            Some(c) => content_text(c),
            None => continue,
        };
        for marker in MARKERS {
            if let Some(i) = text.find(marker) {
                let rest = &text[i + marker.len()..];
                let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
                let cwd = rest[..end].trim_end_matches(['.', ',', '`']);
                if cwd.starts_with('/') {
                    return Some(cwd.to_string());
                }
            }
        }
    }
    None
}

struct Shared {
    script: Script,
    requests: Mutex<Vec<Value>>,
    disconnects: AtomicUsize,
    next_id: AtomicU64,
    shutdown: watch::Receiver<bool>,
}

/// A running fake endpoint. Stops when dropped.
pub struct FakeLlm {
    /// `http://127.0.0.1:<port>/v1`: use as `OPENAI_BASE_URL`.
    pub base_url: String,
    /// The model id to use as `OPENAI_MODEL`.
    pub model: String,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl FakeLlm {
    /// Binds 127.0.0.1:0 and serves `script` until dropped.
    pub async fn start(script: Script) -> FakeLlm {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("fake LLM: bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("fake LLM: local_addr");
        let (stop, stopped) = watch::channel(false);
        let model = script.model.clone();
        let shared = Arc::new(Shared {
            script,
            requests: Mutex::new(Vec::new()),
            disconnects: AtomicUsize::new(0),
            next_id: AtomicU64::new(1),
            shutdown: stopped.clone(),
        });
        let app = Router::new()
            .route("/v1/chat/completions", post(chat_completions))
            .route("/chat/completions", post(chat_completions))
            .route("/v1/models", get(models))
            .route("/models", get(models))
            .with_state(shared.clone());
        let mut signal = stopped;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = signal.wait_for(|stop| *stop).await;
                })
                .await;
        });
        FakeLlm {
            base_url: format!("http://{addr}/v1"),
            model,
            shared,
            stop,
            task: Some(task),
        }
    }

    /// Every request body received so far (chat completions only), in order.
    /// A body that is not JSON is recorded as a JSON string.
    pub fn requests(&self) -> Vec<Value> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// How many streamed replies ended early because the client went away
    /// (e.g. the agent aborted the request on `session/cancel`).
    pub fn disconnects(&self) -> usize {
        self.shared.disconnects.load(Ordering::SeqCst)
    }

    /// Waits until at least `n` chat requests were received, or `timeout`.
    /// Returns whether they were.
    pub async fn wait_for_requests(&self, n: usize, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.shared.requests.lock().unwrap().len() >= n {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the server and waits (up to 5 s) for it to finish: the listener
    /// closes, running streams end, open connections close.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }
}

impl Drop for FakeLlm {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

async fn models(State(shared): State<Arc<Shared>>) -> Response {
    let body = json!({
        "object": "list",
        "data": [{
            "id": shared.script.model,
            "object": "model",
            "created": 0,
            "owned_by": "switchyard-tests",
        }],
    });
    json_response(StatusCode::OK, &body)
}

async fn chat_completions(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let request: Value = serde_json::from_slice(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    shared.requests.lock().unwrap().push(request.clone());

    let reply = shared.script.reply_for(&request);
    if let Reply::HttpError { status, message } = &reply {
        let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = json!({"error": {"message": message, "type": "fake_error", "code": null}});
        return json_response(status, &body);
    }

    let id = format!(
        "chatcmpl-fake-{}",
        shared.next_id.fetch_add(1, Ordering::SeqCst)
    );
    let stream = request.get("stream").and_then(Value::as_bool) == Some(true);
    if !stream {
        return json_response(StatusCode::OK, &whole_completion(&shared, &id, &reply));
    }
    let include_usage = request
        .pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        == Some(true);

    // Bounded channel: the producer runs at the consumer's pace, and a send
    // fails as soon as the client is gone (hyper drops the body stream).
    let (tx, rx) = mpsc::channel::<Result<Bytes, Infallible>>(1);
    let producer = Producer {
        tx,
        shared: shared.clone(),
        id,
        created: now_secs(),
        stop: shared.shutdown.clone(),
    };
    tokio::spawn(producer.run(reply, include_usage));

    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(ReceiverStream::new(rx)))
        .expect("fake LLM: build response")
}

struct Producer {
    tx: mpsc::Sender<Result<Bytes, Infallible>>,
    shared: Arc<Shared>,
    id: String,
    created: u64,
    stop: watch::Receiver<bool>,
}

/// Why a stream ended early.
enum Gone {
    Client,
    Shutdown,
}

impl Producer {
    async fn run(mut self, reply: Reply, include_usage: bool) {
        match self.produce(reply, include_usage).await {
            Ok(()) | Err(Gone::Shutdown) => {}
            Err(Gone::Client) => {
                self.shared.disconnects.fetch_add(1, Ordering::SeqCst);
            }
        }
    }

    async fn produce(&mut self, reply: Reply, include_usage: bool) -> Result<(), Gone> {
        let chunk_chars = self.shared.script.chunk_chars.max(1);
        self.delta(json!({"role": "assistant", "content": ""}), None)
            .await?;
        let (finish, completion_chars) = match reply {
            Reply::Text(text) => {
                for piece in split_chunks(&text, chunk_chars) {
                    self.delta(json!({"content": piece}), None).await?;
                }
                ("stop", text.len())
            }
            Reply::ToolCall { name, arguments } => {
                let call_id = format!(
                    "call_fake_{}",
                    self.shared.next_id.fetch_add(1, Ordering::SeqCst)
                );
                let args = arguments.to_string();
                self.delta(
                    json!({"tool_calls": [{
                        "index": 0,
                        "id": call_id,
                        "type": "function",
                        "function": {"name": name, "arguments": ""},
                    }]}),
                    None,
                )
                .await?;
                for piece in split_chunks(&args, chunk_chars.max(8)) {
                    self.delta(
                        json!({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}),
                        None,
                    )
                    .await?;
                }
                ("tool_calls", args.len())
            }
            Reply::Slow { interval, chunks } => {
                let mut sent = 0;
                for n in 1..=chunks {
                    self.pause(interval).await?;
                    let piece = format!("tick {n} ");
                    sent += piece.len();
                    self.delta(json!({"content": piece}), None).await?;
                }
                ("stop", sent)
            }
            Reply::HttpError { .. } => unreachable!("answered before streaming"),
        };
        self.delta(json!({}), Some(finish)).await?;
        if include_usage {
            let usage = usage(completion_chars);
            let chunk = json!({
                "id": self.id,
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": self.shared.script.model,
                "choices": [],
                "usage": usage,
            });
            self.send(format!("data: {chunk}\n\n")).await?;
        }
        self.send("data: [DONE]\n\n".to_string()).await
    }

    async fn delta(&mut self, delta: Value, finish: Option<&str>) -> Result<(), Gone> {
        let chunk = json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.shared.script.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        });
        self.send(format!("data: {chunk}\n\n")).await
    }

    async fn send(&mut self, event: String) -> Result<(), Gone> {
        if *self.stop.borrow() {
            return Err(Gone::Shutdown);
        }
        tokio::select! {
            sent = self.tx.send(Ok(Bytes::from(event))) => sent.map_err(|_| Gone::Client),
            _ = self.stop.wait_for(|stop| *stop) => Err(Gone::Shutdown),
        }
    }

    async fn pause(&mut self, interval: Duration) -> Result<(), Gone> {
        tokio::select! {
            _ = tokio::time::sleep(interval) => Ok(()),
            _ = self.tx.closed() => Err(Gone::Client),
            _ = self.stop.wait_for(|stop| *stop) => Err(Gone::Shutdown),
        }
    }
}

fn whole_completion(shared: &Shared, id: &str, reply: &Reply) -> Value {
    let (message, finish, chars) = match reply {
        Reply::Text(text) => (
            json!({"role": "assistant", "content": text}),
            "stop",
            text.len(),
        ),
        Reply::ToolCall { name, arguments } => {
            let call_id = format!(
                "call_fake_{}",
                shared.next_id.fetch_add(1, Ordering::SeqCst)
            );
            let args = arguments.to_string();
            (
                json!({"role": "assistant", "content": null, "tool_calls": [{
                    "id": call_id,
                    "type": "function",
                    "function": {"name": name, "arguments": args},
                }]}),
                "tool_calls",
                args.len(),
            )
        }
        Reply::Slow { chunks, .. } => {
            let text: String = (1..=*chunks).map(|n| format!("tick {n} ")).collect();
            let len = text.len();
            (json!({"role": "assistant", "content": text}), "stop", len)
        }
        Reply::HttpError { .. } => unreachable!("answered before"),
    };
    json!({
        "id": id,
        "object": "chat.completion",
        "created": now_secs(),
        "model": shared.script.model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": usage(chars),
    })
}

fn usage(completion_chars: usize) -> Value {
    let completion = completion_chars.div_ceil(4).max(1);
    json!({
        "prompt_tokens": 10,
        "completion_tokens": completion,
        "total_tokens": 10 + completion,
    })
}

/// Splits `text` into pieces of about `size` characters (on char boundaries).
fn split_chunks(text: &str, size: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars
        .chunks(size)
        .map(|c| c.iter().collect::<String>())
        .collect()
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    fn addr(fake: &FakeLlm) -> String {
        fake.base_url
            .trim_start_matches("http://")
            .trim_end_matches("/v1")
            .to_string()
    }

    /// One HTTP/1.1 request with `Connection: close`; returns the raw reply.
    async fn http(fake: &FakeLlm, method: &str, path: &str, body: &Value) -> String {
        let mut stream = TcpStream::connect(addr(fake)).await.unwrap();
        let body = body.to_string();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut reply = String::new();
        stream.read_to_string(&mut reply).await.unwrap();
        reply
    }

    /// The JSON chunks of an SSE reply (chunked transfer framing is skipped:
    /// every `data: ` line is complete on its own here).
    fn chunks(reply: &str) -> Vec<Value> {
        reply
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .filter(|d| *d != "[DONE]")
            .map(|d| serde_json::from_str(d).unwrap())
            .collect()
    }

    fn user(text: &str) -> Value {
        json!({"model": "m", "stream": true, "messages": [
            {"role": "system", "content": "I'm currently working in the directory: /work/p\n"},
            {"role": "user", "content": [{"type": "text", "text": text}]},
        ]})
    }

    #[tokio::test]
    async fn text_reply_is_streamed_in_chunks() {
        let fake = FakeLlm::start(Script::default()).await;
        let reply = http(
            &fake,
            "POST",
            "/v1/chat/completions",
            &user("please SAY HELLO"),
        )
        .await;
        assert!(reply.contains("text/event-stream"));
        assert!(reply.contains("data: [DONE]"));
        let chunks = chunks(&reply);
        let text: String = chunks
            .iter()
            .filter_map(|c| {
                c.pointer("/choices/0/delta/content")
                    .and_then(Value::as_str)
            })
            .collect();
        assert_eq!(text, "Hello from the fake model");
        assert!(chunks.len() > 4);
        let last = chunks.last().unwrap();
        assert_eq!(
            last.pointer("/choices/0/finish_reason"),
            Some(&json!("stop"))
        );
        assert_eq!(fake.requests().len(), 1);
        assert_eq!(fake.requests()[0]["model"], "m");
    }

    #[tokio::test]
    async fn write_the_file_streams_a_tool_call_then_text_after_the_result() {
        let fake = FakeLlm::start(Script::default()).await;
        let reply = http(
            &fake,
            "POST",
            "/v1/chat/completions",
            &user("write the file notes/a.txt with two words\\nsay hello"),
        )
        .await;
        let chunks = chunks(&reply);
        let first = chunks
            .iter()
            .find_map(|c| c.pointer("/choices/0/delta/tool_calls/0/id"))
            .unwrap();
        assert!(first.as_str().unwrap().starts_with("call_"));
        let args: String = chunks
            .iter()
            .filter_map(|c| {
                c.pointer("/choices/0/delta/tool_calls/0/function/arguments")
                    .and_then(Value::as_str)
            })
            .collect();
        let args: Value = serde_json::from_str(&args).unwrap();
        assert_eq!(
            args,
            json!({"file_path": "/work/p/notes/a.txt", "content": "two words\nsay hello"})
        );
        let finish = chunks.iter().find_map(|c| {
            c.pointer("/choices/0/finish_reason")
                .filter(|f| !f.is_null())
        });
        assert_eq!(finish, Some(&json!("tool_calls")));

        let mut next = user("write the file /x with y");
        next["messages"]
            .as_array_mut()
            .unwrap()
            .push(json!({"role": "tool", "tool_call_id": "call_1", "content": "ok"}));
        next["stream"] = json!(false);
        let reply = http(&fake, "POST", "/v1/chat/completions", &next).await;
        assert!(reply.contains("The tool call finished."));
        assert_eq!(fake.requests().len(), 2);
    }

    #[tokio::test]
    async fn slow_stream_stops_when_the_client_disconnects() {
        let fake = FakeLlm::start(Script::default()).await;
        let mut stream = TcpStream::connect(addr(&fake)).await.unwrap();
        let body = user("go slow").to_string();
        let request = format!(
            "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut seen = String::new();
        let mut buf = [0u8; 4096];
        while !seen.contains("tick 2 ") {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0);
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        drop(stream);
        for _ in 0..100 {
            if fake.disconnects() == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(fake.disconnects(), 1);
    }

    #[tokio::test]
    async fn models_and_custom_rules_and_shutdown() {
        let script = Script::default().rule(
            "boom",
            Reply::HttpError {
                status: 400,
                message: "bad".into(),
            },
        );
        let fake = FakeLlm::start(script).await;
        let reply = http(&fake, "GET", "/v1/models", &json!({})).await;
        assert!(reply.contains("\"id\":\"fake-model\""));
        let reply = http(&fake, "POST", "/v1/chat/completions", &user("BOOM")).await;
        assert!(reply.starts_with("HTTP/1.1 400"));
        let address = addr(&fake);
        fake.shutdown().await;
        assert!(TcpStream::connect(address).await.is_err());
    }

    #[tokio::test]
    async fn drop_stops_the_server() {
        let fake = FakeLlm::start(Script::default()).await;
        let address = addr(&fake);
        drop(fake);
        let mut refused = false;
        for _ in 0..100 {
            if TcpStream::connect(&address).await.is_err() {
                refused = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(refused);
    }
}
