// Starts the real daemon (`switchyard serve`) on 127.0.0.1:0 for the
// end-to-end tests. Uses $SWITCHYARD_BIN, or target/{debug,release}/switchyard.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Connection } from '../../node.js';
import { until } from '../helpers.js';

export const TOKEN = 'tok';

const repo = fileURLToPath(new URL('../../../', import.meta.url));

/** The daemon binary, or undefined when there is none. */
export const daemonBin = [
  process.env.SWITCHYARD_BIN,
  join(repo, 'target/debug/switchyard'),
  join(repo, 'target/release/switchyard'),
].find((p) => p && existsSync(p));

/** In CI (SWITCHYARD_REQUIRE_DAEMON=1) a missing binary fails instead of skipping. */
export function skipWithoutDaemon() {
  if (daemonBin) return false;
  if (process.env.SWITCHYARD_REQUIRE_DAEMON === '1') {
    throw new Error('no switchyard binary: build it with cargo build -p switchyard-server or set SWITCHYARD_BIN');
  }
  return 'no switchyard binary (cargo build -p switchyard-server)';
}

/**
 * Starts a daemon. `options.args`: extra flags (`--ring-size 64`,
 * `--web-dir dist`); `options.dataDir`: reuse this data dir (kept by
 * `stop()`, for restarts); `options.listen`: an address to bind instead of
 * 127.0.0.1:0 (a restart on the same port). Its working directory (the
 * default workspace of its sessions) is `defaultWorkspace`, under the data
 * dir. Returns { url, openUrl (the printed URL with the token), port, pid,
 * dataDir, defaultWorkspace, workspace() (a fresh workspace), log(), stop(),
 * kill9() }; `stop()` ends the process (SIGTERM, then SIGKILL after 5 s) and
 * resolves once it exited; `kill9()` SIGKILLs it at once.
 */
export async function startDaemon(options = {}) {
  const ownDir = !options.dataDir;
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'switchyard-e2e-'));
  const defaultWorkspace = join(dataDir, 'workspace');
  mkdirSync(defaultWorkspace, { recursive: true });
  const child = spawn(
    daemonBin,
    [
      'serve', '--listen', options.listen ?? '127.0.0.1:0', '--token', options.token ?? TOKEN, '--data-dir', dataDir,
      // Workspaces are made under the data dir; agents may write there.
      '--trusted-root', dataDir,
      ...(options.args ?? []),
    ],
    {
      cwd: defaultWorkspace,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, SWITCHYARD_DEMO_AGENT_STATE_DIR: join(dataDir, 'demo') },
    },
  );
  let log = '';
  let out = '';
  child.stderr.on('data', (d) => (log = (log + d).slice(-20000)));
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    if (ownDir) rmSync(dataDir, { recursive: true, force: true });
  };
  const kill9 = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  };
  try {
    let url = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`daemon did not start: ${out}${log}`)), 15000);
      child.stdout.on('data', (d) => {
        out += d;
        // The line a user clicks: the URL with the token (printed last).
        const m = out.match(/open (http:\/\/\S+\/\?token=\S+)/);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      });
      exited.then(({ code, signal }) => {
        clearTimeout(timer);
        reject(new Error(`daemon exited (${code ?? signal}): ${out}${log}`));
      });
    });
    const openUrl = url;
    url = new URL(openUrl).origin;
    return {
      url,
      openUrl,
      defaultWorkspace,
      port: Number(new URL(url).port),
      pid: child.pid,
      dataDir,
      /** A fresh workspace directory (removed with the data dir). */
      workspace: () => mkdtempSync(join(dataDir, 'ws-')),
      log: () => log,
      stop,
      kill9,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

/**
 * The view a fresh attach gets: the `session_snapshot` a new Connection
 * receives first (`options`: baseUrl, token, sessionId, clientId).
 */
export async function freshSnapshotView(options) {
  let view;
  const probe = new Connection({
    ...options,
    onFrame: (f) => f.type === 'session_snapshot' && view === undefined && (view = f.data.view),
  });
  probe.start();
  try {
    await until(() => view !== undefined, 10000, 'snapshot');
  } finally {
    probe.close();
  }
  return view;
}
