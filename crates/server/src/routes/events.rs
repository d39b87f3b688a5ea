//! `GET /session/{id}/events` — the session's event stream (SSE).
//!
//! Fresh attach: `session_snapshot`, then live frames. With `Last-Event-ID`
//! (header, or `lastEventId` query): the missed frames and
//! `replay_complete`, or — when they are gone — `state_resync_required`
//! and a snapshot, so the client heals in-band. With a journal, resume
//! points older than the ring are replayed from it. A client that also
//! sends the epoch its id belongs to (`X-Switchyard-Epoch`, or `epoch`
//! query) and whose epoch is not the session's gets
//! `state_resync_required{reason:"epoch_reset"}` and a snapshot.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::stream::{self, Stream, StreamExt};
use switchyard_core::ErrorKind;

use super::AppState;
use crate::bus::{BusError, Subscription};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ClientId, query_param};
use crate::session::presence::StreamGuard;

/// Suggested reconnect delay sent in the `retry:` preamble.
const RETRY: Duration = Duration::from_millis(1000);

fn resume_point(headers: &HeaderMap, query: Option<&str>) -> ApiResult<Option<u64>> {
    let raw = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| query_param(query, "lastEventId"));
    match raw.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => s.parse::<u64>().map(Some).map_err(|_| {
            ApiError::invalid(format!("Last-Event-ID {s:?} is not an event id"))
                .hint("send the id of the last frame you received, or nothing")
        }),
    }
}

fn frames(
    sub: Subscription,
    guard: StreamGuard,
) -> impl Stream<Item = Result<SseEvent, Infallible>> {
    let preamble = stream::once(async { Ok(SseEvent::default().retry(RETRY)) });
    let body = stream::unfold((sub, guard), |(mut sub, guard)| async move {
        let out = sub.next().await?;
        let mut ev = SseEvent::default().event(&out.kind).data(&*out.json);
        if let Some(id) = out.id {
            ev = ev.id(id.to_string());
        }
        Some((Ok(ev), (sub, guard)))
    });
    preamble.chain(body)
}

/// Opens the stream. The client must be attached (any role).
pub async fn events(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ClientId(client): ClientId,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> ApiResult<Response> {
    let session = state.registry.get(&id)?;
    // Held by the stream: the client stays present while it is open.
    let guard = session.stream_opened(client.as_deref())?;
    let resume = resume_point(&headers, uri.query())?;
    // The epoch the client's Last-Event-ID belongs to (header or query).
    let epoch = headers
        .get("x-switchyard-epoch")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| query_param(uri.query(), "epoch"));
    let sub = session
        .bus
        .subscribe_at(resume, epoch.as_deref())
        .map_err(|e| match e {
            BusError::TooManySubscribers { limit } => ApiError::new(
                ErrorKind::SessionBusy,
                format!("session {} already has {limit} event streams", session.id),
            )
            .with_status(StatusCode::TOO_MANY_REQUESTS)
            .retry_after(5),
        })?;
    let heartbeat = state.registry.config().limits.heartbeat;
    let sse =
        Sse::new(frames(sub, guard)).keep_alive(KeepAlive::new().interval(heartbeat).text("ping"));
    let mut resp = sse.into_response();
    let h = resp.headers_mut();
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    if let Ok(v) = HeaderValue::from_str(session.bus.epoch()) {
        h.insert("x-switchyard-epoch", v);
    }
    Ok(resp)
}
