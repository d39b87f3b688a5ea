// @switchyard/sdk — public TypeScript surface.
//
// Data types (frames, the view, events, error kinds) are generated from the
// Rust types in crates/core (ts-rs) into ./types/generated and re-exported
// here; the classes below are the WebAssembly SDK.

import type {
  ApprovalMode,
  ContentBlock,
  ErrorKind,
  Frame,
  PermissionOutcome,
  Role,
  SessionViewState,
} from './types/generated/index.js';

export type * from './types/generated/index.js';

// ---------------------------------------------------------------------------
// Initialization

/** Input accepted by `init()`: where to get the `.wasm`. */
export type InitInput =
  | string
  | URL
  | Request
  | Response
  | BufferSource
  | WebAssembly.Module
  | Promise<Response>;

/**
 * Loads the WebAssembly module (browsers, bundlers). Call once and await it
 * before using the classes. Without an argument the `.wasm` is loaded from
 * next to the package's JS. In Node the module is initialized at import time
 * and this resolves at once.
 */
export function init(input?: InitInput): Promise<void>;
export default init;

/** Resolves once the module is initialized (by any entry point). */
export function ready(): Promise<void>;

/** The SDK's version (the crate's and the npm package's). */
export function sdkVersion(): string;

// ---------------------------------------------------------------------------
// Errors

/** `kind` of a `SwitchyardError`: the daemon's error kinds plus two local ones. */
export type SwitchyardErrorKind =
  | ErrorKind
  /** No HTTP answer: refused, reset, DNS, CORS, aborted. `status` is 0. */
  | 'network_error'
  /** An error answer that is not the daemon's JSON error shape. */
  | 'http_error';

/**
 * What every `Client` method rejects with, and what `Connection` reports in
 * `onStatus` details: the daemon's `{"error": {kind, message, hint}}` plus the
 * HTTP status and `Retry-After`.
 */
export class SwitchyardError extends Error {
  readonly name: 'SwitchyardError';
  readonly kind: SwitchyardErrorKind;
  /** HTTP status; 0 when no answer arrived (`network_error`). */
  readonly status: number;
  /** What to do about it, when the daemon says. */
  readonly hint: string | undefined;
  /** Seconds to wait before retrying (from `Retry-After`, 429 answers). */
  readonly retryAfter: number | undefined;
  private constructor();
}

// ---------------------------------------------------------------------------
// SessionView

/** What `SessionView.apply` did with a frame. */
export type ApplyOutcome =
  /** The frame changed (or confirmed) the view. */
  | 'applied'
  /** An unknown type or session_update sub-type: counted, id advanced. */
  | 'unknown'
  /** Its id was not above `lastEventId`: dropped (replay overlap). */
  | 'stale'
  /** Skipped while awaiting a resync (id advanced). */
  | 'gated'
  /** A known type with an invalid payload: counted, skipped. */
  | 'invalid'
  /** Not a readable frame at all. */
  | 'malformed';

/**
 * A session's view state, reduced from frames by Switchyard's core reducer
 * (the same Rust code the daemon runs, compiled to WebAssembly).
 */
export class SessionView {
  /** An empty view. */
  constructor();
  /**
   * Applies one frame: its JSON text (fastest: an SSE `data:` line as is) or
   * a frame object.
   */
  apply(frame: string | Frame): ApplyOutcome;
  /** Applies frames in order; returns how many were `applied`. */
  applyBatch(frames: ReadonlyArray<string | Frame>): number;
  /** The whole view as plain JS objects (a fresh copy on every call). */
  state(): SessionViewState;
  /**
   * The view as JSON text in the stable field order every build shares
   * (byte-comparable across native, Node and browser builds).
   */
  stateJson(): string;
  /** Highest event id reduced (0 before any); resume from it. */
  readonly lastEventId: number;
  /** True between `state_resync_required` and the snapshot that follows. */
  readonly awaitingResync: boolean;
  /** Releases the view's memory now (otherwise the GC does it). */
  free(): void;
}

// ---------------------------------------------------------------------------
// Client (the daemon's HTTP API, docs/api.md)

export interface ClientOptions {
  /** The daemon, e.g. `http://127.0.0.1:7777`. Default in a browser: the page's origin. */
  baseUrl?: string;
  /** The daemon's token (sent as `Authorization: Bearer`). */
  token?: string;
  /** A client id to send when no `createSession`/`attach` issued one yet. */
  clientId?: string;
}

/** `GET /health`. */
export interface Health {
  status: 'ok';
  version: string;
  protocolVersion: number;
}

/** `GET /capabilities`. */
export interface Capabilities {
  protocolVersion: number;
  version: string;
  features: string[];
  eventTypes: string[];
  errorKinds: string[];
  limits: {
    ringFrames: number;
    ringBytes: number;
    queueFrames: number;
    queueBytes: number;
    maxSubscribers: number;
    maxBodyBytes: number;
    promptQueue: number;
    initTimeoutMs: number;
    heartbeatMs: number;
    maxSessions: number;
    [key: string]: number;
  };
  agents: Array<{ name: string; command: string; default: boolean }>;
  defaultAgent: string;
  [key: string]: unknown;
}

/** An attached client, as session summaries list them. */
export interface AttachedClient {
  clientId: string;
  role: Role;
  name: string | null;
  attachedAt: number;
}

/** `GET /session/{id}`: one session's status and view summary. */
export interface SessionSummary {
  sessionId: string;
  kind: 'agent' | 'terminal' | (string & {});
  agent: string;
  cwd: string;
  createdAt: number;
  agentPid: number | null;
  permissionPolicy: PermissionPolicy;
  status: 'running' | 'died' | 'closed';
  lastEventId: number;
  epoch: string;
  clients: AttachedClient[];
  subscribers: number;
  view: {
    lifecycle: SessionViewState['lifecycle'];
    turn: SessionViewState['turn'];
    currentModelId: string | null;
    currentModeId: string | null;
    pendingPermissions: number;
  };
  [key: string]: unknown;
}

/** `POST /session`: the new session, and the creator's client id (`control`). */
export interface CreatedSession extends SessionSummary {
  clientId: string;
  role: Role;
}

export interface CreateSessionOptions {
  /** A configured agent name (default: the daemon's default agent). */
  agent?: string;
  /** Absolute workspace directory (default: the daemon's). */
  cwd?: string;
  /** `agent` (default) or `terminal`. */
  kind?: 'agent' | 'terminal' | (string & {});
  /**
   * Terminal: the program (default: the user's login shell). With no
   * `args`, a line with spaces runs through `sh -c`.
   */
  command?: string;
  /** Terminal: the program's arguments. */
  args?: string[];
  /** Terminal: extra environment variables. */
  env?: Record<string, string>;
  /** Terminal: initial width in columns (default 80). */
  cols?: number;
  /** Terminal: initial height in rows (default 24). */
  rows?: number;
  /** The creator's display name, as `attach`'s `name`. */
  name?: string;
  /**
   * Who may answer this session's permission requests (default: the
   * daemon's `--permission-policy`): `first-responder` — any control
   * client, the first valid vote wins; `designated` — only the client whose
   * prompt caused the request (anyone once that client has left).
   */
  permissionPolicy?: PermissionPolicy;
}

/** See `CreateSessionOptions.permissionPolicy`. */
export type PermissionPolicy = 'first-responder' | 'designated';

/** `POST /session/{id}/model`. */
export interface ModelChanged {
  sessionId: string;
  /** The model the agent reports once the switch settled. */
  modelId: string | null;
}

/** `POST /session/{id}/approval-mode`. */
export interface ApprovalModeSet {
  sessionId: string;
  /** The mode the agent reports once the change settled. */
  mode: string | null;
  /** It became the workspace's default for new sessions. */
  persisted: boolean;
  /** Set when `persist` was asked for but saving it failed. */
  persistError?: string;
}

/** `POST /session/{id}/attach`. */
export interface Attached {
  sessionId: string;
  clientId: string;
  role: Role;
}

/** `POST /session/{id}/prompt`. */
export interface PromptAccepted {
  promptId: string;
  /** 0: it runs now; n: n prompts ahead of it. */
  position: number;
  /** The same `promptId` was sent before: nothing new was queued. */
  duplicate: boolean;
}

/** `POST /session/{id}/cancel`. */
export interface CancelResult {
  /** False when nothing was running. */
  cancelled: boolean;
}

/** `POST /session/{id}/permission/{requestId}`. */
export interface VoteResult {
  requestId: string;
  outcome: PermissionOutcome | string;
  voterClientId: string;
  [key: string]: unknown;
}

/** `POST /session/{id}/detach`. */
export interface Detached {
  sessionId: string;
  clientId: string;
  detached: true;
}

/** A terminal signal for `Client.signal`. */
export type TerminalSignal = 'INT' | 'TERM' | 'HUP' | 'KILL' | 'QUIT';

/** The answer of the terminal routes (`input`, `resize`, `signal`, ...). */
export interface TerminalAck {
  sessionId: string;
  [key: string]: unknown;
}

/** `POST /session/{id}/owner`. */
export interface OwnerChanged {
  sessionId: string;
  /** The owner's client id after the call; `null` when unowned. */
  ownerClientId: string | null;
  [key: string]: unknown;
}

/** `POST /terminals/kill-all`. */
export interface KilledTerminals {
  /** The terminal sessions that were ended. */
  killed: string[];
  [key: string]: unknown;
}

/** `DELETE /session/{id}`. */
export interface ClosedSession {
  sessionId: string;
  status: 'running' | 'died' | 'closed';
}

/**
 * A typed client for the daemon's HTTP API. Every method rejects with a
 * `SwitchyardError`. Client ids are per session: `createSession` and
 * `attach` remember the id the daemon issued and send it (`X-Client-Id`) on
 * that session's later requests.
 */
export class Client {
  constructor(options: ClientOptions);
  readonly baseUrl: string;
  /** The client id most recently issued (or the one given to the constructor). */
  readonly clientId: string | undefined;
  /** The client id used for `sessionId`'s requests. */
  clientIdFor(sessionId: string): string | undefined;

  /** `GET /health` (no token needed). */
  health(): Promise<Health>;
  /** `GET /capabilities`. */
  capabilities(): Promise<Capabilities>;
  /** `POST /session`: starts a session; the caller is attached as `control`. */
  createSession(options?: CreateSessionOptions): Promise<CreatedSession>;
  /** `GET /session`: every session, oldest first. */
  listSessions(): Promise<SessionSummary[]>;
  /** `GET /session/{id}`. */
  getSession(sessionId: string): Promise<SessionSummary>;
  /** `POST /session/{id}/attach`. */
  attach(sessionId: string, role: Role, name?: string): Promise<Attached>;
  /**
   * `POST /session/{id}/prompt`: text, or ACP content blocks. `promptId` is
   * an idempotency key (repeating it returns `duplicate: true`).
   */
  prompt(
    sessionId: string,
    prompt: string | ContentBlock[],
    promptId?: string,
  ): Promise<PromptAccepted>;
  /** `POST /session/{id}/cancel`: cancels the running turn. */
  cancel(sessionId: string): Promise<CancelResult>;
  /** `POST /session/{id}/permission/{requestId}`: the first valid vote wins. */
  vote(
    sessionId: string,
    requestId: string,
    outcome: PermissionOutcome | 'cancelled',
  ): Promise<VoteResult>;
  /** Votes for option `optionId`. */
  choose(sessionId: string, requestId: string, optionId: string): Promise<VoteResult>;
  /** Same as `choose` (reads better for an allow option). */
  allow(sessionId: string, requestId: string, optionId: string): Promise<VoteResult>;
  /**
   * `POST /session/{id}/model` (control only): switches the model. Every
   * connection sees exactly one `model_switched` (or `model_switch_failed`);
   * resolves with the model the agent reports. Unknown ids reject with
   * `invalid_model` (the hint lists the allowed ones); an agent that does
   * not answer within the daemon's change timeout rejects with
   * `request_timeout`.
   */
  setModel(sessionId: string, modelId: string): Promise<ModelChanged>;
  /**
   * `POST /session/{id}/approval-mode` (control only): switches the
   * approval mode; with `persist`, new sessions in this workspace start in
   * it. Every connection sees exactly one `approval_mode_changed`.
   */
  setApprovalMode(sessionId: string, mode: ApprovalMode | string, persist?: boolean): Promise<ApprovalModeSet>;
  /**
   * `POST /session/{id}/detach`: leaves the session (every client sees
   * `client_left{reason:"detached"}`); the daemon forgets this client id.
   */
  detach(sessionId: string): Promise<Detached>;
  /**
   * `POST /session/{id}/input`: keystrokes for a terminal. Only the owner
   * may type: observers reject with `role_forbidden` (403), other control
   * clients with `owner_required` (409).
   */
  input(sessionId: string, data: string): Promise<TerminalAck>;
  /** `POST /session/{id}/resize` (owner only): the PTY follows the owner's size. */
  resize(sessionId: string, cols: number, rows: number): Promise<TerminalAck>;
  /** `POST /session/{id}/signal` (owner only): to the terminal's process group. */
  signal(sessionId: string, signal: TerminalSignal): Promise<TerminalAck>;
  /** `POST /session/{id}/clear-scrollback` (control): drops the server-side scrollback. */
  clearScrollback(sessionId: string): Promise<TerminalAck>;
  /**
   * `POST /session/{id}/owner` `{action: "claim"}` (control): become the
   * owner of an unowned terminal; rejects with `owner_required` when someone
   * else owns it. Everyone sees `owner_changed`.
   */
  claimOwner(sessionId: string): Promise<OwnerChanged>;
  /** `POST /session/{id}/owner` `{action: "release"}`: give ownership up. */
  releaseOwner(sessionId: string): Promise<OwnerChanged>;
  /** `POST /terminals/kill-all` (control token): ends every terminal session. */
  killAllTerminals(): Promise<KilledTerminals>;
  /** `DELETE /session/{id}`: closes the session. */
  closeSession(sessionId: string): Promise<ClosedSession>;
  /**
   * A started `Connection` to the session's event stream with this client's
   * base URL, token and client id for that session.
   */
  connect(
    sessionId: string,
    options?: Omit<ConnectionOptions, 'baseUrl' | 'token' | 'sessionId' | 'clientId'> & {
      clientId?: string;
    },
  ): Connection;
  free(): void;
}

// ---------------------------------------------------------------------------
// Connection (the event stream)

/**
 * - `idle`: created, `start()` not called yet;
 * - `connecting`: the first request is on its way;
 * - `live`: the snapshot (or the end of the replay) arrived; frames flow;
 * - `reconnecting`: the stream ended or failed; waiting or retrying;
 * - `resyncing`: the daemon could not replay what was missed
 *   (`state_resync_required`); the snapshot that follows heals the view;
 * - `closed`: `close()` was called, the session ended, or a fatal error.
 */
export type ConnectionStatus =
  | 'idle'
  | 'connecting'
  | 'live'
  | 'reconnecting'
  | 'resyncing'
  | 'closed';

/** The second argument of `onStatus`. */
export interface StatusDetail {
  /** `connecting`, `live`: where the stream (re)starts / stands. */
  lastEventId?: number;
  /** `reconnecting`: failed attempts since the stream was last live. */
  attempt?: number;
  /** `reconnecting`: the wait before the next attempt (0: at once). */
  delayMs?: number;
  /**
   * `reconnecting`: why the last attempt failed (absent when the stream just
   * ended); `closed` with reason `fatal`: the error that stopped it.
   */
  error?: SwitchyardError;
  /**
   * `resyncing`: the daemon's reason (`ring_evicted`, `epoch_reset`).
   * `closed`: `close` (you called `close()`), `session_ended` (the session
   * died or was closed and its stream ended) or `fatal` (see `error`).
   */
  reason?: string;
}

export interface ConnectionOptions {
  /** The daemon. Default in a browser: the page's origin. */
  baseUrl?: string;
  /** The daemon's token (sent as `Authorization: Bearer`, never in the URL). */
  token?: string;
  sessionId: string;
  /** The id `createSession`/`attach` issued (sent as `X-Client-Id`). */
  clientId: string;
  /** Resume after this id while the view is still empty. */
  lastEventId?: number;
  /** Reduce into this view (default: a new one, see `connection.view`). */
  view?: SessionView;
  /** Every status change. */
  onStatus?: (status: ConnectionStatus, detail: StatusDetail) => void;
  /** Every frame received, after it was applied to the view. */
  onFrame?: (frame: Frame, outcome: ApplyOutcome) => void;
  /** The view's state, at most once per chunk received from the network. */
  onState?: (state: SessionViewState) => void;
  /** Reconnect backoff: full jitter, `initialMs · 2^attempt` capped at `maxMs` (250 ms, 30 s). */
  backoff?: { initialMs?: number; maxMs?: number };
}

/**
 * A session's event stream (`GET /session/{id}/events`, read with `fetch`),
 * reduced into a `SessionView`. Reconnects by itself (jittered exponential
 * backoff, never faster than the daemon's `retry:`), resumes from the view's
 * `lastEventId`, heals in-band after `state_resync_required`, reconnects at
 * once after `client_evicted` and, in browsers, on `online`, `pageshow` and
 * the page becoming visible again. 4xx answers other than 408/425/429 are
 * fatal (status `closed` with the error).
 */
export class Connection {
  constructor(options: ConnectionOptions);
  /** Opens the stream; no-op if started. Throws after `close()`. */
  start(): void;
  /** Aborts the stream for good; reports status `closed` and no error. */
  close(): void;
  readonly status: ConnectionStatus;
  /** Where the next connection resumes (the view's `lastEventId`). */
  readonly lastEventId: number;
  /** The view this connection reduces into. */
  readonly view: SessionView;
  /** Releases the handle. Does not stop a started connection: call `close()`. */
  free(): void;
}
