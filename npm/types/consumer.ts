// A small typed consumer of the generated declarations. It is only
// type-checked (`tsc -p npm/types`, see check.sh), never run: it proves the
// generated types narrow the way SDK code needs them to, and its
// `@ts-expect-error` lines prove misuse is rejected.

import type {
  ApiErrorBody,
  ContentBlock,
  ErrorKind,
  Frame,
  FramePayloads,
  KnownErrorKind,
  KnownFrame,
  KnownFrameType,
  SessionUpdate,
  SessionViewState,
  ToolCallView,
  TranscriptEntry,
} from "./generated/index.js";

// --- Frames: narrow a KnownFrame by `type` ----------------------------------

/** One line per frame, reading each payload through its narrowed type. */
export function describeFrame(frame: KnownFrame): string {
  const at = frame._meta?.serverTimestamp ?? "?";
  switch (frame.type) {
    case "turn_complete":
      return `#${frame.id ?? "-"} turn ended: ${frame.data.stopReason} @${at}`;
    case "turn_error":
      return `turn failed (${frame.data.errorKind ?? "unclassified"}): ${frame.data.message}`;
    case "permission_request":
      return `permission ${frame.data.requestId}: ${frame.data.options.map((o) => o.optionId).join("/")}`;
    case "permission_resolved": {
      const outcome = frame.data.outcome;
      return outcome.outcome === "selected"
        ? `resolved: ${outcome.optionId} by ${frame.data.voterClientId ?? "?"}`
        : "resolved: cancelled";
    }
    case "client_joined":
      return `${frame.data.clientId} joined as ${frame.data.role}`;
    case "session_update":
      return describeUpdate(frame.data.update);
    case "session_snapshot":
      return `snapshot at ${frame.data.lastEventId}: ${frame.data.view.transcript.length} entries`;
    case "state_resync_required":
      return `resync (${frame.data.reason}) after ${frame.data.lastDeliveredId ?? "nothing"}`;
    case "terminal_exited":
      return `terminal exited: ${frame.data.exitCode ?? frame.data.signal ?? "?"}`;
    default:
      return frame.type;
  }
}

function isText(block: ContentBlock): block is Extract<ContentBlock, { type: "text" }> {
  return block.type === "text";
}

/** The `update` union, narrowed by its `sessionUpdate` discriminator. */
function describeUpdate(update: SessionUpdate): string {
  switch (update.sessionUpdate) {
    case "agent_message_chunk":
    case "agent_thought_chunk":
    case "user_message_chunk":
      return isText(update.content) ? update.content.text : `[${update.content.type}]`;
    case "tool_call":
    case "tool_call_update":
      return `${update.toolCallId}: ${update.status ?? "pending"} (${update._meta?.provenance ?? "builtin"})`;
    case "plan":
      return update.entries.map((e) => `${e.status} ${e.content}`).join("; ");
    case "available_commands_update":
      return update.availableCommands.map((c) => `/${c.name}`).join(" ");
    case "current_mode_update":
      return `mode: ${update.currentModeId}`;
    case "usage_update":
    case "config_option_update":
      return update.sessionUpdate;
  }
}

/** Payloads by type name, e.g. for a typed `on(type, handler)` API. */
export type Handler<T extends KnownFrameType> = (data: FramePayloads[T], frame: Frame) => void;
export const onTurnComplete: Handler<"turn_complete"> = (data) => {
  void data.stopReason;
};

// --- The view: transcript entries by `kind` ---------------------------------

export function renderTranscript(view: SessionViewState): string[] {
  const calls = new Map<string, ToolCallView>(view.toolCalls.map((t) => [t.toolCallId, t]));
  return view.transcript.map((entry: TranscriptEntry) => {
    switch (entry.kind) {
      case "message":
        return `${entry.role}: ${entry.text}${entry.attachments.length > 0 ? " [+]" : ""}`;
      case "tool_call": {
        const call = calls.get(entry.toolCallId);
        return `tool ${call?.title ?? entry.toolCallId} (${call?.status ?? "?"})`;
      }
      case "unknown":
        return "(an entry this build cannot show)";
      default: {
        const unreachable: never = entry;
        return unreachable;
      }
    }
  });
}

export function statusLine(view: SessionViewState): string {
  const pending = view.permissions.pending.length;
  const turn = view.turn.running ? `running ${view.turn.currentPromptId ?? ""}` : "idle";
  const died = view.lifecycle.state === "alive" ? "" : ` ${view.lifecycle.state}`;
  return `#${view.lastEventId} ${turn}, ${pending} pending${died} (${view.counters.applied} applied)`;
}

// --- ErrorKind: a switch, and a table that must cover every known kind ------

/** docs/protocol.md §5.1. `satisfies` fails when Rust adds a kind. */
const HTTP_STATUS = {
  invalid_request: 400,
  parse_error: 400,
  payload_too_large: 413,
  unauthorized: 401,
  forbidden_origin: 403,
  session_not_found: 404,
  client_id_required: 400,
  unknown_client: 400,
  role_forbidden: 403,
  owner_required: 409,
  session_busy: 409,
  prompt_queue_full: 429,
  permission_not_found: 404,
  permission_already_resolved: 409,
  invalid_option: 400,
  invalid_mode: 400,
  invalid_model: 400,
  missing_binary: 502,
  init_timeout: 504,
  auth_required: 502,
  protocol_error: 502,
  agent_exited: 502,
  prompt_deadline_exceeded: 504,
  request_timeout: 504,
  path_outside_workspace: 403,
  symlink_escape: 403,
  file_too_large: 413,
  binary_file: 415,
  untrusted_workspace: 403,
  io_error: 500,
  internal: 500,
} as const satisfies Record<KnownErrorKind, number>;

export function expectedStatus(kind: ErrorKind): number | undefined {
  return kind in HTTP_STATUS ? HTTP_STATUS[kind as KnownErrorKind] : undefined;
}

export function advice(body: ApiErrorBody): string {
  const { kind, message, hint } = body.error;
  switch (kind) {
    case "unauthorized":
      return "check the token";
    case "owner_required":
      return hint ?? "claim the terminal first";
    case "role_forbidden":
      return "attach with role control";
    case "prompt_queue_full":
    case "session_busy":
      return "retry later";
    default:
      // A kind from a newer daemon still type-checks: ErrorKind is open.
      return `${kind}: ${message}`;
  }
}

export const fromNewerDaemon: ErrorKind = "quota_exceeded";

// --- Misuse that must NOT type-check -----------------------------------------
// Each `@ts-expect-error` fails the check if its line stops being an error;
// check.sh also strips them and asserts tsc then fails.

export function misuse(frame: KnownFrame, view: SessionViewState): void {
  if (frame.type === "turn_complete") {
    // @ts-expect-error -- TurnComplete has `stopReason`, not `reason`
    void frame.data.reason;
  }
  if (frame.type === "turn_error") {
    // @ts-expect-error -- `stopReason` belongs to turn_complete, not turn_error
    void frame.data.stopReason;
  }
  const first = view.transcript[0];
  if (first !== undefined) {
    // @ts-expect-error -- `text` exists only once narrowed to kind "message"
    void first.text;
  }
  // @ts-expect-error -- counters are numbers (u64 crosses as a JS number)
  const applied: string = view.counters.applied;
  void applied;
}
