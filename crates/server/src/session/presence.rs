//! Presence: who is attached, and when they stop being attached.
//!
//! A client leaves in one of two ways, each announced once with
//! `client_left`: it detaches (`POST /session/{id}/detach`), or it has had
//! no open event stream for the session's grace period (a closed tab, a
//! laptop that went to sleep and never came back). Every open stream holds
//! a [`StreamGuard`]; when a client's last stream closes, a timer starts,
//! and opening a stream again (the same client resuming) cancels it.

use std::sync::Arc;

use switchyard_core::event::{ClientJoined, ClientLeft};
use switchyard_core::{Event, Role};

use super::{ClientEntry, Session, new_id, now_ms};
use crate::error::ApiResult;

/// One attached client and its open streams.
pub(super) struct Slot {
    pub(super) entry: ClientEntry,
    /// Open event streams.
    streams: usize,
    /// Bumped whenever `streams` changes, so a grace timer can tell that the
    /// client came back (or left again) while it waited.
    generation: u64,
}

/// Keeps a client present while its event stream is open.
pub struct StreamGuard {
    session: Arc<Session>,
    client_id: String,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.session.stream_closed(&self.client_id);
    }
}

impl Session {
    /// Attaches a client, announces it, and starts its grace period (it has
    /// no stream yet).
    pub fn attach(self: &Arc<Self>, role: Role, name: Option<String>) -> ClientEntry {
        let mut entry = ClientEntry {
            client_id: new_id("c"),
            role: role.clone(),
            name: name.clone(),
            attached_at: now_ms(),
        };
        self.clients.lock().expect("clients lock").insert(
            entry.client_id.clone(),
            Slot {
                entry: entry.clone(),
                streams: 0,
                generation: 0,
            },
        );
        let (_, joined_at) = self.bus.publish_stamped(
            Event::ClientJoined(ClientJoined {
                client_id: entry.client_id.clone(),
                role,
                name,
            })
            .to_frame(),
        );
        // The join's own time, which is what a restore finds in the log.
        entry.attached_at = joined_at;
        if let Some(slot) = self
            .clients
            .lock()
            .expect("clients lock")
            .get_mut(&entry.client_id)
        {
            slot.entry.attached_at = joined_at;
        }
        self.start_grace(&entry.client_id, 0);
        entry
    }

    /// Detaches a client for good.
    pub fn detach(&self, client_id: Option<&str>) -> ApiResult<ClientEntry> {
        let entry = self.client(client_id)?;
        self.remove(&entry.client_id, "detached", None);
        Ok(entry)
    }

    /// Registers an open event stream for an attached client.
    pub fn stream_opened(self: &Arc<Self>, client_id: Option<&str>) -> ApiResult<StreamGuard> {
        let entry = self.client(client_id)?;
        if let Some(slot) = self
            .clients
            .lock()
            .expect("clients lock")
            .get_mut(&entry.client_id)
        {
            slot.streams += 1;
            slot.generation += 1;
        }
        Ok(StreamGuard {
            session: Arc::clone(self),
            client_id: entry.client_id,
        })
    }

    fn stream_closed(self: &Arc<Self>, client_id: &str) {
        let generation = {
            let mut clients = self.clients.lock().expect("clients lock");
            let Some(slot) = clients.get_mut(client_id) else {
                return;
            };
            slot.streams = slot.streams.saturating_sub(1);
            slot.generation += 1;
            if slot.streams > 0 {
                return;
            }
            slot.generation
        };
        self.start_grace(client_id, generation);
    }

    /// After the grace period, removes the client if nothing changed since
    /// `generation` (no stream opened or closed in between).
    fn start_grace(self: &Arc<Self>, client_id: &str, generation: u64) {
        let session = Arc::clone(self);
        let client_id = client_id.to_string();
        let grace = self.presence_grace;
        // A timer, not a poll: presence has no event that says "nobody
        // came back".
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            session.remove(&client_id, "idle_timeout", Some(generation));
        });
    }

    /// Removes a client and publishes `client_left` — once, whichever way it
    /// left. With `expect`, only if it still has no stream and nothing
    /// changed since that generation.
    fn remove(&self, client_id: &str, reason: &str, expect: Option<u64>) {
        {
            let mut clients = self.clients.lock().expect("clients lock");
            let Some(slot) = clients.get(client_id) else {
                return;
            };
            if let Some(g) = expect
                && (slot.streams > 0 || slot.generation != g)
            {
                return;
            }
            clients.remove(client_id);
        }
        self.bus.publish(
            Event::ClientLeft(ClientLeft {
                client_id: client_id.to_string(),
                reason: reason.to_string(),
            })
            .to_frame(),
        );
        self.client_gone(client_id);
    }
}

/// Puts a client back after a restart: present, with no stream yet, so it
/// has the usual grace period to reconnect before it leaves. Nothing is
/// published (its `client_joined` is already in the log).
pub(super) fn restore_client(session: &Arc<Session>, entry: ClientEntry) {
    let id = entry.client_id.clone();
    session.clients.lock().expect("clients lock").insert(
        id.clone(),
        Slot {
            entry,
            streams: 0,
            generation: 0,
        },
    );
    session.start_grace(&id, 0);
}
