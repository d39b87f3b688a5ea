// The SDK's error class. It lives in JS so that it is a real `Error`
// subclass (stack trace, `instanceof Error`); the wasm code constructs it.
// Shipped as a wasm-bindgen snippet and re-exported by the npm package.

/** An error answered by the Switchyard daemon, or a failure to reach it. */
export class SwitchyardError extends Error {
  constructor(kind, message, status, hint, retryAfter) {
    super(message);
    this.name = 'SwitchyardError';
    /** The daemon's `error.kind`, or `network_error` / `http_error`. */
    this.kind = kind;
    /** The HTTP status; 0 when no response arrived. */
    this.status = status;
    /** What to do about it, when the daemon says. */
    this.hint = hint;
    /** Seconds to wait before retrying (`Retry-After`), when given. */
    this.retryAfter = retryAfter;
  }
}
