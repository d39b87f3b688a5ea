//! The client side: the daemon's HTTP API through reqwest, and SSE streams
//! parsed with core's [`SseParser`] (what the SDK uses).
//!
//! Frames are inspected cheaply on purpose: the clients share two cores
//! with the daemon, so they read the SSE `event:` and `id:` lines and pick
//! single fields out of the JSON text instead of parsing every frame.

use std::collections::VecDeque;
use std::path::Path;
use std::pin::Pin;

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use futures::{Stream, StreamExt};
use reqwest::StatusCode;
use serde_json::{Value, json};
use switchyard_core::sse::{SseEvent, SseParser};

/// The daemon's API for one base URL and token.
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    /// A client for `base` (`http://127.0.0.1:PORT`).
    pub fn new(base: String, token: String) -> Api {
        let http = reqwest::Client::builder()
            .no_proxy()
            .tcp_nodelay(true)
            .build()
            .expect("reqwest client");
        Api { http, base, token }
    }

    fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
    }

    async fn json(
        &self,
        method: reqwest::Method,
        path: &str,
        client: Option<&str>,
        body: Option<Value>,
    ) -> Result<(StatusCode, Value)> {
        let mut r = self.req(method, path);
        if let Some(c) = client {
            r = r.header("x-client-id", c);
        }
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await.with_context(|| format!("request {path}"))?;
        let status = resp.status();
        let text = resp.text().await?;
        Ok((
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        ))
    }

    /// `POST /session` with the demo agent in `cwd`: (sessionId, clientId).
    pub async fn create_session(&self, cwd: &Path) -> Result<(String, String)> {
        self.create_session_with(cwd, None).await
    }

    /// `POST /session` with `agent` (the default agent when `None`).
    pub async fn create_session_with(
        &self,
        cwd: &Path,
        agent: Option<&str>,
    ) -> Result<(String, String)> {
        let mut body = json!({ "cwd": cwd });
        if let Some(a) = agent {
            body["agent"] = a.into();
        }
        let (status, body) = self
            .json(reqwest::Method::POST, "/session", None, Some(body))
            .await?;
        if status != StatusCode::CREATED {
            bail!("POST /session: {status} {body}");
        }
        Ok((
            str_field(&body, "sessionId")?,
            str_field(&body, "clientId")?,
        ))
    }

    /// `POST /session` with `{"kind":"terminal", ...body}`: (sessionId,
    /// clientId).
    pub async fn create_terminal(&self, mut body: Value) -> Result<(String, String)> {
        body["kind"] = "terminal".into();
        let (status, body) = self
            .json(reqwest::Method::POST, "/session", None, Some(body))
            .await?;
        if status != StatusCode::CREATED {
            bail!("POST /session (terminal): {status} {body}");
        }
        Ok((
            str_field(&body, "sessionId")?,
            str_field(&body, "clientId")?,
        ))
    }

    /// `POST /session/{id}/input`.
    pub async fn input(&self, session: &str, client: &str, data: &str) -> Result<()> {
        let (status, body) = self
            .json(
                reqwest::Method::POST,
                &format!("/session/{session}/input"),
                Some(client),
                Some(json!({ "data": data })),
            )
            .await?;
        if status != StatusCode::OK {
            bail!("input: {status} {body}");
        }
        Ok(())
    }

    /// `POST /session/{id}/attach` → clientId.
    pub async fn attach(&self, session: &str, role: &str) -> Result<String> {
        let (status, body) = self
            .json(
                reqwest::Method::POST,
                &format!("/session/{session}/attach"),
                None,
                Some(json!({ "role": role })),
            )
            .await?;
        if status != StatusCode::OK {
            bail!("attach: {status} {body}");
        }
        str_field(&body, "clientId")
    }

    /// `POST /session/{id}/prompt` with one text block → promptId.
    pub async fn prompt(&self, session: &str, client: &str, text: &str) -> Result<PromptOutcome> {
        let (status, body) = self
            .json(
                reqwest::Method::POST,
                &format!("/session/{session}/prompt"),
                Some(client),
                Some(json!({ "prompt": [{ "type": "text", "text": text }] })),
            )
            .await?;
        match status {
            StatusCode::ACCEPTED => Ok(PromptOutcome::Accepted(str_field(&body, "promptId")?)),
            StatusCode::TOO_MANY_REQUESTS => Ok(PromptOutcome::QueueFull),
            _ => bail!("prompt: {status} {body}"),
        }
    }

    /// `DELETE /session/{id}`.
    pub async fn close(&self, session: &str, client: &str) -> Result<()> {
        let (status, body) = self
            .json(
                reqwest::Method::DELETE,
                &format!("/session/{session}"),
                Some(client),
                None,
            )
            .await?;
        if status != StatusCode::OK {
            bail!("close: {status} {body}");
        }
        Ok(())
    }

    /// `GET /session/{id}`.
    pub async fn session(&self, session: &str) -> Result<Value> {
        let (status, body) = self
            .json(
                reqwest::Method::GET,
                &format!("/session/{session}"),
                None,
                None,
            )
            .await?;
        if status != StatusCode::OK {
            bail!("GET /session: {status} {body}");
        }
        Ok(body)
    }

    /// `GET /session` → how many sessions are listed.
    pub async fn list_count(&self) -> Result<usize> {
        let (status, body) = self
            .json(reqwest::Method::GET, "/session", None, None)
            .await?;
        if status != StatusCode::OK {
            bail!("GET /session: {status} {body}");
        }
        Ok(body["sessions"].as_array().map_or(0, Vec::len))
    }

    /// `GET /health` → status.
    pub async fn health(&self) -> Result<StatusCode> {
        Ok(self
            .http
            .get(format!("{}/health", self.base))
            .send()
            .await?
            .status())
    }

    /// Opens `GET /session/{id}/events` (with `Last-Event-ID` if given).
    pub async fn events(
        &self,
        session: &str,
        client: &str,
        last_event_id: Option<u64>,
    ) -> Result<SseStream> {
        let mut r = self
            .req(reqwest::Method::GET, &format!("/session/{session}/events"))
            .header("x-client-id", client);
        if let Some(id) = last_event_id {
            r = r.header("last-event-id", id.to_string());
        }
        let resp = r.send().await.context("GET events")?;
        if resp.status() != StatusCode::OK {
            let status = resp.status();
            let text = resp.text().await.unwrap_or_default();
            bail!("GET events: {status} {text}");
        }
        Ok(SseStream {
            body: Box::pin(resp.bytes_stream()),
            parser: SseParser::new(),
            ready: VecDeque::new(),
            scratch: Vec::new(),
            bytes: 0,
        })
    }
}

/// What `POST /prompt` answered.
pub enum PromptOutcome {
    /// 202 with this promptId.
    Accepted(String),
    /// 429 `prompt_queue_full`.
    QueueFull,
}

fn str_field(v: &Value, k: &str) -> Result<String> {
    v.get(k)
        .and_then(Value::as_str)
        .map(String::from)
        .with_context(|| format!("no {k:?} in {v}"))
}

type Body = Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>;

/// Events from one SSE connection.
pub struct SseStream {
    body: Body,
    parser: SseParser,
    ready: VecDeque<SseEvent>,
    scratch: Vec<SseEvent>,
    /// Body bytes received so far.
    pub bytes: u64,
}

impl SseStream {
    /// The next event; `None` at end of stream (or on a transport error).
    pub async fn next(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(ev) = self.ready.pop_front() {
                return Some(ev);
            }
            let chunk = self.body.next().await?.ok()?;
            self.bytes += chunk.len() as u64;
            self.parser
                .feed(&chunk, &mut self.scratch)
                .expect("events fit the parser's buffer");
            self.ready.extend(self.scratch.drain(..));
        }
    }
}

/// The frame id of an event (its SSE `id:` line); `None` on stream-control
/// frames. The parser keeps the last id across events, so this only reads
/// the id when the JSON carries one.
pub fn frame_id(ev: &SseEvent) -> Option<u64> {
    // Every frame's JSON starts `{"v":1,"id":N,...` when it has an id.
    let rest = ev.data.strip_prefix("{\"v\":1,\"id\":")?;
    let end = rest.find(|c: char| !c.is_ascii_digit())?;
    rest[..end].parse().ok()
}

/// `_meta.serverTimestamp` (ms since the epoch), read from the JSON text.
pub fn server_timestamp(ev: &SseEvent) -> Option<u64> {
    number_after(&ev.data, "\"serverTimestamp\":")
}

/// The integer right after the last occurrence of `key` in `text`.
pub fn number_after(text: &str, key: &str) -> Option<u64> {
    let at = text.rfind(key)? + key.len();
    let rest = &text[at..];
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// A `session_update` whose update is an `agent_message_chunk`.
pub fn is_agent_chunk(ev: &SseEvent) -> bool {
    ev.event == "session_update"
        && ev
            .data
            .contains("\"sessionUpdate\":\"agent_message_chunk\"")
}
