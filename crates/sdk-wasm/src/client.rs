//! `Client`: one async method per route of the daemon's HTTP API
//! (`docs/api.md`).
//!
//! Every method returns a `Promise` of the daemon's JSON answer (typed in
//! the npm package's `index.d.ts`) and rejects with a `SwitchyardError`.
//! Client ids are per session: `createSession` and `attach` remember the id
//! the daemon issued for that session and send it as `X-Client-Id` on that
//! session's later requests (the constructor's `clientId` is the fallback).

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Array, Object, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use crate::connection::Connection;
use crate::http::{self, Call, Endpoint};
use crate::{js, panic};

struct Inner {
    endpoint: Endpoint,
    /// The constructor's `clientId`, or the last one the daemon issued.
    default_client_id: RefCell<Option<String>>,
    /// (sessionId, the clientId the daemon issued for it); a handful of
    /// entries, so a Vec (smaller code than a map).
    by_session: RefCell<Vec<(String, String)>>,
}

impl Inner {
    fn client_id_for(&self, session_id: &str) -> Option<String> {
        self.by_session
            .borrow()
            .iter()
            .find(|(s, _)| s == session_id)
            .map(|(_, c)| c.clone())
            .or_else(|| self.default_client_id.borrow().clone())
    }

    /// Remembers `answer.clientId` for `answer.sessionId`.
    fn remember(&self, answer: &JsValue) {
        if let (Some(session), Some(client)) = (
            js::get(answer, "sessionId").as_string(),
            js::get(answer, "clientId").as_string(),
        ) {
            let mut map = self.by_session.borrow_mut();
            map.retain(|(s, _)| *s != session);
            map.push((session, client.clone()));
            *self.default_client_id.borrow_mut() = Some(client);
        }
    }
}

/// A typed client for the daemon's HTTP API.
#[wasm_bindgen]
pub struct Client {
    inner: Rc<Inner>,
}

/// Path of a session-scoped route.
fn session_path(id: &str, rest: &str) -> String {
    format!("/session/{}{rest}", http::segment(id))
}

/// JSON text of a JS value we built (cannot fail for plain objects).
fn to_json(value: &JsValue) -> Result<String, JsValue> {
    js_sys::JSON::stringify(value)?
        .as_string()
        .ok_or_else(|| js::type_error("the request body is not JSON-serializable"))
}

impl Client {
    /// Runs one request in a Promise.
    fn call(
        &self,
        method: &'static str,
        path: String,
        session: Option<&str>,
        body: Option<String>,
        then: fn(&Inner, JsValue) -> JsValue,
    ) -> Result<Promise, JsValue> {
        panic::guard()?;
        let inner = Rc::clone(&self.inner);
        let client_id = session.and_then(|s| inner.client_id_for(s));
        Ok(future_to_promise(async move {
            let mut call = Call::new(method, path);
            call.client_id = client_id.as_deref();
            call.body = body;
            let answer = http::json(&inner.endpoint, call).await?;
            Ok(then(&inner, answer))
        }))
    }
}

impl Client {
    /// A session-scoped `POST` of a small JSON object.
    fn post(&self, id: &str, rest: &str, fields: &[(&str, JsValue)]) -> Result<Promise, JsValue> {
        panic::guard()?;
        let body = Object::new();
        for (key, value) in fields {
            js::set(&body, key, value);
        }
        self.call(
            "POST",
            session_path(id, rest),
            Some(id),
            Some(to_json(&body)?),
            same,
        )
    }
}

fn same(_: &Inner, v: JsValue) -> JsValue {
    v
}

fn remember(inner: &Inner, v: JsValue) -> JsValue {
    inner.remember(&v);
    v
}

fn sessions_list(_: &Inner, v: JsValue) -> JsValue {
    let list = js::get(&v, "sessions");
    if Array::is_array(&list) {
        list
    } else {
        Array::new().into()
    }
}

#[wasm_bindgen]
impl Client {
    /// `new Client({ baseUrl, token, clientId? })`. `baseUrl` defaults to
    /// the page's origin in a browser.
    #[wasm_bindgen(constructor)]
    pub fn new(options: JsValue) -> Result<Client, JsValue> {
        panic::guard()?;
        let endpoint = Endpoint::from_options(&options)?;
        let client_id = js::opt_string(&options, "clientId")?;
        Ok(Client {
            inner: Rc::new(Inner {
                endpoint,
                default_client_id: RefCell::new(client_id),
                by_session: RefCell::new(Vec::new()),
            }),
        })
    }

    /// The daemon's base URL.
    #[wasm_bindgen(getter, js_name = baseUrl)]
    pub fn base_url(&self) -> Result<String, JsValue> {
        panic::guard()?;
        Ok(self.inner.endpoint.base.clone())
    }

    /// The client id last issued by the daemon (or given to the
    /// constructor).
    #[wasm_bindgen(getter, js_name = clientId)]
    pub fn client_id(&self) -> Result<Option<String>, JsValue> {
        panic::guard()?;
        Ok(self.inner.default_client_id.borrow().clone())
    }

    /// The client id used for `sessionId`'s requests.
    #[wasm_bindgen(js_name = clientIdFor)]
    pub fn client_id_for(&self, session_id: &str) -> Result<Option<String>, JsValue> {
        panic::guard()?;
        Ok(self.inner.client_id_for(session_id))
    }

    /// `GET /health`.
    pub fn health(&self) -> Result<Promise, JsValue> {
        self.call("GET", "/health".into(), None, None, same)
    }

    /// `GET /capabilities`.
    pub fn capabilities(&self) -> Result<Promise, JsValue> {
        self.call("GET", "/capabilities".into(), None, None, same)
    }

    /// `POST /session` with `{agent?, cwd?, kind?, name?, permissionPolicy?}`
    /// and, for terminals, `{command?, args?, env?, cols?, rows?}`;
    /// remembers the issued client id (the creator is attached as `control`
    /// and, for a terminal, owns it).
    #[wasm_bindgen(js_name = createSession)]
    pub fn create_session(&self, options: JsValue) -> Result<Promise, JsValue> {
        panic::guard()?;
        let body = Object::new();
        for key in [
            "agent",
            "cwd",
            "kind",
            "name",
            "permissionPolicy",
            "command",
        ] {
            if let Some(v) = js::opt_string(&options, key)? {
                js::set(&body, key, &JsValue::from_str(&v));
            }
        }
        for key in ["cols", "rows"] {
            if let Some(n) = js::opt_number(&options, key)? {
                js::set(&body, key, &JsValue::from_f64(n));
            }
        }
        // Shapes are the daemon's to check (it answers `invalid_params`);
        // only an obviously wrong type is refused here.
        let args = js::get(&options, "args");
        if !args.is_undefined() && !args.is_null() {
            if !Array::is_array(&args) {
                return Err(js::type_error("option `args` must be an array of strings"));
            }
            js::set(&body, "args", &args);
        }
        let env = js::get(&options, "env");
        if !env.is_undefined() && !env.is_null() {
            if !env.is_object() || Array::is_array(&env) {
                return Err(js::type_error("option `env` must be an object of strings"));
            }
            js::set(&body, "env", &env);
        }
        self.call(
            "POST",
            "/session".into(),
            None,
            Some(to_json(&body)?),
            remember,
        )
    }

    /// `GET /session`: the session summaries, oldest first.
    #[wasm_bindgen(js_name = listSessions)]
    pub fn list_sessions(&self) -> Result<Promise, JsValue> {
        self.call("GET", "/session".into(), None, None, sessions_list)
    }

    /// `GET /session/{id}`.
    #[wasm_bindgen(js_name = getSession)]
    pub fn get_session(&self, id: &str) -> Result<Promise, JsValue> {
        self.call("GET", session_path(id, ""), None, None, same)
    }

    /// `POST /session/{id}/attach` with `{role, name?}`; remembers the
    /// issued client id for this session.
    pub fn attach(&self, id: &str, role: &str, name: Option<String>) -> Result<Promise, JsValue> {
        panic::guard()?;
        let body = Object::new();
        js::set(&body, "role", &JsValue::from_str(role));
        if let Some(name) = name {
            js::set(&body, "name", &JsValue::from_str(&name));
        }
        self.call(
            "POST",
            session_path(id, "/attach"),
            None,
            Some(to_json(&body)?),
            remember,
        )
    }

    /// `POST /session/{id}/prompt`. `prompt` is text or an array of ACP
    /// content blocks; `promptId` is an idempotency key.
    pub fn prompt(
        &self,
        id: &str,
        prompt: JsValue,
        prompt_id: Option<String>,
    ) -> Result<Promise, JsValue> {
        panic::guard()?;
        let blocks: JsValue = if let Some(text) = prompt.as_string() {
            let block = Object::new();
            js::set(&block, "type", &JsValue::from_str("text"));
            js::set(&block, "text", &JsValue::from_str(&text));
            Array::of1(&block).into()
        } else if Array::is_array(&prompt) {
            prompt
        } else {
            return Err(js::type_error(
                "prompt must be a string or an array of content blocks",
            ));
        };
        let body = Object::new();
        js::set(&body, "prompt", &blocks);
        if let Some(pid) = prompt_id {
            js::set(&body, "promptId", &JsValue::from_str(&pid));
        }
        self.call(
            "POST",
            session_path(id, "/prompt"),
            Some(id),
            Some(to_json(&body)?),
            same,
        )
    }

    /// `POST /session/{id}/cancel`: cancels the running turn.
    pub fn cancel(&self, id: &str) -> Result<Promise, JsValue> {
        self.call("POST", session_path(id, "/cancel"), Some(id), None, same)
    }

    /// `POST /session/{id}/permission/{requestId}`. `outcome` is
    /// `{outcome: "selected", optionId}`, `{outcome: "cancelled"}`, or the
    /// string `"cancelled"`.
    pub fn vote(&self, id: &str, request_id: &str, outcome: JsValue) -> Result<Promise, JsValue> {
        panic::guard()?;
        let outcome = if outcome.as_string().as_deref() == Some("cancelled") {
            let o = Object::new();
            js::set(&o, "outcome", &JsValue::from_str("cancelled"));
            o.into()
        } else if outcome.is_object() {
            outcome
        } else {
            return Err(js::type_error(
                "outcome must be {outcome: \"selected\", optionId} or {outcome: \"cancelled\"}",
            ));
        };
        let body = Object::new();
        js::set(&body, "outcome", &outcome);
        self.call(
            "POST",
            session_path(id, &format!("/permission/{}", http::segment(request_id))),
            Some(id),
            Some(to_json(&body)?),
            same,
        )
    }

    /// Votes for the option `optionId` (`vote` with `selected`).
    pub fn choose(&self, id: &str, request_id: &str, option_id: &str) -> Result<Promise, JsValue> {
        panic::guard()?;
        let o = Object::new();
        js::set(&o, "outcome", &JsValue::from_str("selected"));
        js::set(&o, "optionId", &JsValue::from_str(option_id));
        self.vote(id, request_id, o.into())
    }

    /// Same as `choose`: votes for an (allowing) option.
    pub fn allow(&self, id: &str, request_id: &str, option_id: &str) -> Result<Promise, JsValue> {
        self.choose(id, request_id, option_id)
    }

    /// `POST /session/{id}/model`: switches the model. Resolves with
    /// `{sessionId, modelId}` — the model the agent reports once the switch
    /// settled, which another client may already have changed again.
    #[wasm_bindgen(js_name = setModel)]
    pub fn set_model(&self, id: &str, model_id: &str) -> Result<Promise, JsValue> {
        self.post(id, "/model", &[("modelId", JsValue::from_str(model_id))])
    }

    /// `POST /session/{id}/approval-mode`: switches the approval mode;
    /// `persist` also makes it the workspace's default for new sessions.
    /// Resolves with `{sessionId, mode, persisted}`.
    #[wasm_bindgen(js_name = setApprovalMode)]
    pub fn set_approval_mode(
        &self,
        id: &str,
        mode: &str,
        persist: Option<bool>,
    ) -> Result<Promise, JsValue> {
        self.post(
            id,
            "/approval-mode",
            &[
                ("mode", JsValue::from_str(mode)),
                ("persist", JsValue::from_bool(persist.unwrap_or(false))),
            ],
        )
    }

    /// `POST /session/{id}/detach`: leaves the session
    /// (`client_left{reason:"detached"}`); the daemon forgets this client id.
    pub fn detach(&self, id: &str) -> Result<Promise, JsValue> {
        self.call("POST", session_path(id, "/detach"), Some(id), None, same)
    }

    /// `POST /session/{id}/input` with `{data}`: keystrokes for a terminal
    /// (owner only).
    pub fn input(&self, id: &str, data: &str) -> Result<Promise, JsValue> {
        self.post(id, "/input", &[("data", JsValue::from_str(data))])
    }

    /// `POST /session/{id}/resize` with `{cols, rows}` (owner only).
    pub fn resize(&self, id: &str, cols: u16, rows: u16) -> Result<Promise, JsValue> {
        self.post(
            id,
            "/resize",
            &[("cols", cols.into()), ("rows", rows.into())],
        )
    }

    /// `POST /session/{id}/signal` with `{signal}`: `INT`, `TERM`, `HUP`,
    /// `KILL` or `QUIT` to the terminal's process group (owner only).
    pub fn signal(&self, id: &str, signal: &str) -> Result<Promise, JsValue> {
        self.post(id, "/signal", &[("signal", JsValue::from_str(signal))])
    }

    /// `POST /session/{id}/clear-scrollback` (control).
    #[wasm_bindgen(js_name = clearScrollback)]
    pub fn clear_scrollback(&self, id: &str) -> Result<Promise, JsValue> {
        self.post(id, "/clear-scrollback", &[])
    }

    /// `POST /session/{id}/owner` with `{action: "claim"}`: becomes the
    /// terminal's owner when it has none.
    #[wasm_bindgen(js_name = claimOwner)]
    pub fn claim_owner(&self, id: &str) -> Result<Promise, JsValue> {
        self.post(id, "/owner", &[("action", JsValue::from_str("claim"))])
    }

    /// `POST /session/{id}/owner` with `{action: "release"}`.
    #[wasm_bindgen(js_name = releaseOwner)]
    pub fn release_owner(&self, id: &str) -> Result<Promise, JsValue> {
        self.post(id, "/owner", &[("action", JsValue::from_str("release"))])
    }

    /// `POST /terminals/kill-all`: ends every terminal session (needs a
    /// control token).
    #[wasm_bindgen(js_name = killAllTerminals)]
    pub fn kill_all_terminals(&self) -> Result<Promise, JsValue> {
        self.call("POST", "/terminals/kill-all".into(), None, None, same)
    }

    /// `DELETE /session/{id}`: closes the session.
    #[wasm_bindgen(js_name = closeSession)]
    pub fn close_session(&self, id: &str) -> Result<Promise, JsValue> {
        self.call("DELETE", session_path(id, ""), Some(id), None, same)
    }

    /// A started `Connection` to `sessionId`'s event stream, with this
    /// client's base URL, token and client id for that session. `options`
    /// takes the other `Connection` options (`view`, callbacks, ...).
    pub fn connect(&self, session_id: &str, options: JsValue) -> Result<Connection, JsValue> {
        panic::guard()?;
        let merged = Object::new();
        if options.is_object() {
            Object::assign(&merged, &options.unchecked_into());
        }
        js::set(
            &merged,
            "baseUrl",
            &JsValue::from_str(&self.inner.endpoint.base),
        );
        if let Some(token) = &self.inner.endpoint.token {
            js::set(&merged, "token", &JsValue::from_str(token));
        }
        js::set(&merged, "sessionId", &JsValue::from_str(session_id));
        if js::get(&merged, "clientId").is_undefined()
            && let Some(c) = self.inner.client_id_for(session_id)
        {
            js::set(&merged, "clientId", &JsValue::from_str(&c));
        }
        let connection = Connection::new(merged.into())?;
        connection.start()?;
        Ok(connection)
    }
}
