// Shared by the entry points (not part of the public API): one readiness
// promise per loaded copy of the module.
let resolveReady;

/** Resolves once the WebAssembly module is initialized. */
export const readyPromise = new Promise((resolve) => {
  resolveReady = resolve;
});

/** Called by an entry point after a successful initialization. */
export function markReady() {
  resolveReady();
}
