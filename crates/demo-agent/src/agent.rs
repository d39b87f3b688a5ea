//! The ACP handlers: session setup and configuration run inline on the
//! SDK's dispatch loop (they never wait on the client), while prompts run in
//! spawned tasks so the loop stays free to deliver `session/cancel` and the
//! client's answers to our own requests.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use agent_client_protocol::schema::ProtocolVersion;
use agent_client_protocol::v1::schema::{
    self as acp, AgentCapabilities, CancelNotification, Implementation, InitializeRequest,
    InitializeResponse, LoadSessionResponse, NewSessionResponse, PromptRequest, PromptResponse,
    SetSessionConfigOptionRequest, SetSessionConfigOptionResponse, SetSessionModeRequest,
    SetSessionModeResponse,
};
use agent_client_protocol::v1::{ConnectionTo, Responder};
use agent_client_protocol::{Agent, Client, ConnectTo};
use serde_json::{Value, json};

use crate::ExitHook;
use crate::session::{LoadError, Session, SessionStore};
use crate::transport::Barriers;
use crate::turn::{Turn, TurnEnd};
use crate::wire::{self, LoadSession, NewSession, SetSessionModelRequest};

type AcpResult<T = ()> = Result<T, agent_client_protocol::Error>;

/// State shared by every handler and turn of one connection.
pub(crate) struct Shared {
    pub(crate) store: SessionStore,
    pub(crate) barriers: Arc<Barriers>,
    client_terminal: AtomicBool,
    exit_hook: Option<ExitHook>,
    /// Whether `session/load` is offered.
    load_session: bool,
    crash: Mutex<Option<Crash>>,
    /// `/hold`: model and mode change requests wait here, unanswered and
    /// unapplied, until `/release` (`None` = answer at once).
    held: Mutex<Option<Vec<Held>>>,
}

/// A configuration request whose handling `/hold` put off.
type Held = Box<dyn FnOnce() -> AcpResult + Send>;

/// A simulated crash that did not end the process (no exit hook, or a hook
/// that returned).
struct Crash {
    exit_code: i32,
    /// Kept unanswered until the connection is gone: a crashed agent does not
    /// reply, and dropping a responder early would send an error reply.
    _unanswered: Responder<PromptResponse>,
}

impl Shared {
    pub(crate) fn new(
        store: SessionStore,
        barriers: Arc<Barriers>,
        exit_hook: Option<ExitHook>,
        load_session: bool,
    ) -> Self {
        Self {
            store,
            barriers,
            client_terminal: AtomicBool::new(false),
            exit_hook,
            load_session,
            crash: Mutex::new(None),
            held: Mutex::new(None),
        }
    }

    /// Handles a configuration request now, or later when `/hold` is on.
    fn run_or_hold(&self, handle: impl FnOnce() -> AcpResult + Send + 'static) -> AcpResult {
        let mut held = self.held.lock().expect("held lock");
        match held.as_mut() {
            Some(list) => {
                list.push(Box::new(handle));
                Ok(())
            }
            None => {
                drop(held);
                handle()
            }
        }
    }

    /// `/hold`: from now on, configuration requests wait for `/release`.
    pub(crate) fn hold(&self) {
        self.held
            .lock()
            .expect("held lock")
            .get_or_insert_with(Vec::new);
    }

    /// `/release`: handles every held request, oldest first, and stops
    /// holding. Returns how many there were.
    pub(crate) fn release(&self) -> AcpResult<usize> {
        let held = self
            .held
            .lock()
            .expect("held lock")
            .take()
            .unwrap_or_default();
        let n = held.len();
        for handle in held {
            handle()?;
        }
        Ok(n)
    }

    pub(crate) fn client_has_terminal(&self) -> bool {
        self.client_terminal.load(Ordering::Relaxed)
    }

    /// The exit code of a simulated crash, if one happened.
    pub(crate) fn crashed(&self) -> Option<i32> {
        self.crash
            .lock()
            .expect("crash lock")
            .as_ref()
            .map(|c| c.exit_code)
    }

    fn session(&self, id: &acp::SessionId) -> AcpResult<Arc<Session>> {
        self.store
            .get(&id.0)
            .ok_or_else(|| acp::Error::session_not_found(id.clone()).into())
    }

    fn persist(&self, session: &Session) {
        // Losing the file only costs a later `session/load`; the live
        // session is unaffected, so report and carry on.
        if let Err(error) = self.store.persist(session) {
            eprintln!(
                "switchyard-demo-agent: cannot save session {} in {}: {error}",
                session.id(),
                self.store.dir().display()
            );
        }
    }
}

fn send_update(cx: &ConnectionTo<Client>, session_id: &str, update: &Value) -> AcpResult {
    cx.send_notification(wire::session_update(session_id, update))
}

fn invalid_params(message: String, data: Value) -> agent_client_protocol::Error {
    agent_client_protocol::Error::new(agent_client_protocol::ErrorCode::INVALID_PARAMS, message)
        .data(data)
}

fn unknown_mode(mode: &str) -> agent_client_protocol::Error {
    invalid_params(
        format!("unknown mode `{mode}`; available: {}", wire::mode_ids()),
        json!({ "modeId": mode, "availableModes": wire::MODES.map(|(id, ..)| id) }),
    )
}

fn unknown_model(model: &str) -> agent_client_protocol::Error {
    invalid_params(
        format!("unknown model `{model}`; available: {}", wire::model_ids()),
        json!({ "modelId": model, "availableModels": wire::MODELS.map(|(id, ..)| id) }),
    )
}

/// Runs the agent side of one ACP connection until the client hangs up.
pub(crate) async fn serve(shared: Arc<Shared>, transport: impl ConnectTo<Agent>) -> AcpResult {
    let on_initialize = shared.clone();
    let on_new = shared.clone();
    let on_load = shared.clone();
    let on_set_mode = shared.clone();
    let on_set_config = shared.clone();
    let on_set_model = shared.clone();
    let on_prompt = shared.clone();
    let on_cancel = shared;
    Agent
        .v1()
        .name("switchyard-demo-agent")
        .on_receive_request(
            async move |request: InitializeRequest, responder, _cx| {
                initialize(&on_initialize, request, responder)
            },
            agent_client_protocol::on_receive_request!(),
        )
        .on_receive_request(
            async move |request: NewSession, responder, cx| {
                new_session(&on_new, request, responder, &cx)
            },
            agent_client_protocol::on_receive_request!(),
        )
        .on_receive_request(
            async move |request: LoadSession, responder, cx| {
                load_session(&on_load, request, responder, &cx)
            },
            agent_client_protocol::on_receive_request!(),
        )
        .on_receive_request(
            async move |request: SetSessionModeRequest, responder, cx| {
                let shared = on_set_mode.clone();
                on_set_mode.run_or_hold(move || set_mode(&shared, request, responder, &cx))
            },
            agent_client_protocol::on_receive_request!(),
        )
        .on_receive_request(
            async move |request: SetSessionConfigOptionRequest, responder, cx| {
                let shared = on_set_config.clone();
                on_set_config
                    .run_or_hold(move || set_config_option(&shared, request, responder, &cx))
            },
            agent_client_protocol::on_receive_request!(),
        )
        .on_receive_request(
            async move |request: SetSessionModelRequest, responder, cx| {
                let shared = on_set_model.clone();
                on_set_model.run_or_hold(move || set_model(&shared, request, responder, &cx))
            },
            agent_client_protocol::on_receive_request!(),
        )
        .on_receive_request(
            async move |request: PromptRequest, responder, cx| {
                prompt(&on_prompt, request, responder, cx)
            },
            agent_client_protocol::on_receive_request!(),
        )
        .on_receive_notification(
            async move |notification: CancelNotification, _cx| {
                // Cancelling an unknown session is a no-op, as for any
                // notification that names nothing we know.
                if let Some(session) = on_cancel.store.get(&notification.session_id.0) {
                    session.cancel();
                }
                Ok(())
            },
            agent_client_protocol::on_receive_notification!(),
        )
        .connect_to(transport)
        .await
}

fn initialize(
    shared: &Shared,
    request: InitializeRequest,
    responder: Responder<InitializeResponse>,
) -> AcpResult {
    shared
        .client_terminal
        .store(request.client_capabilities.terminal, Ordering::Relaxed);
    responder.respond(
        InitializeResponse::new(ProtocolVersion::V1)
            .agent_capabilities(AgentCapabilities::new().load_session(shared.load_session))
            .agent_info(
                Implementation::new("switchyard-demo-agent", env!("CARGO_PKG_VERSION"))
                    .title("Switchyard demo agent"),
            ),
    )
}

fn new_session(
    shared: &Shared,
    request: NewSession,
    responder: Responder<Value>,
    cx: &ConnectionTo<Client>,
) -> AcpResult {
    let session = shared.store.create(request.0.cwd);
    shared.persist(&session);
    let (mode, model) = (session.mode(), session.model());
    responder.respond(wire::with_legacy_models(
        NewSessionResponse::new(session.id().to_owned())
            .modes(wire::mode_state(&mode))
            .config_options(wire::config_options(&model)),
        &model,
    ))?;
    // After the response, so the client already knows the session id.
    send_update(cx, session.id(), &wire::available_commands())
}

fn load_session(
    shared: &Shared,
    request: LoadSession,
    responder: Responder<Value>,
    cx: &ConnectionTo<Client>,
) -> AcpResult {
    if !shared.load_session {
        return responder.respond_with_error(acp::Error::method_not_found().into());
    }
    let request = request.0;
    let session = match shared.store.load(&request.session_id.0) {
        Ok(session) => session,
        Err(LoadError::NotFound) => {
            return responder
                .respond_with_error(acp::Error::session_not_found(request.session_id).into());
        }
        Err(LoadError::Corrupt(reason)) => {
            return responder.respond_with_internal_error(reason);
        }
    };
    session.set_cwd(request.cwd);
    // The protocol wants the whole history replayed before the response.
    for update in session.history() {
        send_update(cx, session.id(), &update)?;
    }
    let (mode, model) = (session.mode(), session.model());
    responder.respond(wire::with_legacy_models(
        LoadSessionResponse::new()
            .modes(wire::mode_state(&mode))
            .config_options(wire::config_options(&model)),
        &model,
    ))?;
    send_update(cx, session.id(), &wire::available_commands())
}

fn set_mode(
    shared: &Shared,
    request: SetSessionModeRequest,
    responder: Responder<SetSessionModeResponse>,
    cx: &ConnectionTo<Client>,
) -> AcpResult {
    let session = match shared.session(&request.session_id) {
        Ok(session) => session,
        Err(error) => return responder.respond_with_error(error),
    };
    let mode = &*request.mode_id.0;
    if !session.set_mode(mode) {
        return responder.respond_with_error(unknown_mode(mode));
    }
    shared.persist(&session);
    // Notify first: a client that awaits the response then sees the update
    // already delivered.
    send_update(cx, session.id(), &wire::current_mode(mode))?;
    responder.respond(SetSessionModeResponse::new())
}

fn set_config_option(
    shared: &Shared,
    request: SetSessionConfigOptionRequest,
    responder: Responder<SetSessionConfigOptionResponse>,
    cx: &ConnectionTo<Client>,
) -> AcpResult {
    let session = match shared.session(&request.session_id) {
        Ok(session) => session,
        Err(error) => return responder.respond_with_error(error),
    };
    if &*request.config_id.0 != wire::MODEL_CONFIG_ID {
        return responder.respond_with_error(invalid_params(
            format!(
                "unknown config option `{}`; available: {}",
                request.config_id,
                wire::MODEL_CONFIG_ID
            ),
            json!({ "configId": request.config_id }),
        ));
    }
    let Some(model) = request.value.as_value_id() else {
        return responder.respond_with_error(invalid_params(
            "the `model` option takes a value id".into(),
            json!({ "configId": request.config_id }),
        ));
    };
    if !session.set_model(&model.0) {
        return responder.respond_with_error(unknown_model(&model.0));
    }
    shared.persist(&session);
    send_update(cx, session.id(), &wire::config_option_update(&model.0))?;
    responder.respond(SetSessionConfigOptionResponse::new(wire::config_options(
        &model.0,
    )))
}

fn set_model(
    shared: &Shared,
    request: SetSessionModelRequest,
    responder: Responder<Value>,
    cx: &ConnectionTo<Client>,
) -> AcpResult {
    let session = match shared.session(&acp::SessionId::new(request.session_id)) {
        Ok(session) => session,
        Err(error) => return responder.respond_with_error(error),
    };
    if !session.set_model(&request.model_id) {
        return responder.respond_with_error(unknown_model(&request.model_id));
    }
    shared.persist(&session);
    send_update(
        cx,
        session.id(),
        &wire::config_option_update(&request.model_id),
    )?;
    responder.respond(json!({}))
}

fn prompt(
    shared: &Arc<Shared>,
    request: PromptRequest,
    responder: Responder<PromptResponse>,
    cx: ConnectionTo<Client>,
) -> AcpResult {
    let session = match shared.session(&request.session_id) {
        Ok(session) => session,
        Err(error) => return responder.respond_with_error(error),
    };
    let text = prompt_text(&request.prompt);
    // Taken here, on the dispatch loop, so a `session/cancel` that arrives
    // right behind the prompt is not missed by a task that starts late.
    let cancel = session.cancel_signal();
    let shared = shared.clone();
    cx.clone().spawn(async move {
        let turn = Turn::new(shared.clone(), session.clone(), cx, cancel);
        let end = turn.run(&text).await;
        shared.persist(&session);
        match end {
            Ok(TurnEnd::Stop(reason)) => responder.respond(PromptResponse::new(reason)),
            Ok(TurnEnd::Crash(exit_code)) => crash(&shared, exit_code, responder),
            Err(error) => responder.respond_with_error(error),
        }
    })
}

fn crash(shared: &Shared, exit_code: i32, responder: Responder<PromptResponse>) -> AcpResult {
    if let Some(exit) = &shared.exit_hook {
        exit(exit_code);
    }
    *shared.crash.lock().expect("crash lock") = Some(Crash {
        exit_code,
        _unanswered: responder,
    });
    // A failing task shuts the whole connection down, which is the closest
    // an in-process agent gets to dying.
    Err(agent_client_protocol::Error::internal_error()
        .data(format!("demo agent crashed with exit status {exit_code}")))
}

/// The prompt's text blocks, joined; other content is not understood here.
fn prompt_text(blocks: &[acp::ContentBlock]) -> String {
    blocks
        .iter()
        .filter_map(|block| match block {
            acp::ContentBlock::Text(text) => Some(text.text.as_str()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n")
}
