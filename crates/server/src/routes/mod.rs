//! HTTP routes, one module per resource.

pub mod capabilities;
pub mod events;
pub mod health;
pub mod permissions;
pub mod prompts;
pub mod sessions;
pub mod settings;
pub mod terminals;

use std::sync::Arc;

use crate::auth::Auth;
use crate::session::Registry;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The sessions.
    pub registry: Arc<Registry>,
    /// Token and origin checks.
    pub auth: Auth,
}
