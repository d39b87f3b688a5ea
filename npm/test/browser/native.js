// The native oracle: the `differential-gen` binary of the switchyard-tests
// crate (tests/src/bin/differential-gen.rs), which reduces frames with the
// daemon's own Rust code. Shared by differential.test.js,
// browser-vectors.test.js and bench/sdk-bench.mjs.
//
// The binary is $SWITCHYARD_DIFFGEN when set (prebuilt), else built here
// with cargo (honouring CARGO_TARGET_DIR) on first use.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

// The opt-level overrides: unoptimized, generating and natively reducing the
// 10,000 differential sequences (1M frames, 260 MB of frame JSON) takes ~47 s;
// optimizing just the crates doing that work brings it to ~10 s for ~15 s of
// compile, once, without a release build of the test crate's tokio and axum.
// Cargo keeps these artifacts apart from the plain debug ones, so neither
// build invalidates the other.
const OPTIMIZED = ['serde_core', 'serde_json', 'switchyard-core', 'switchyard-tests'];
const CARGO_BUILD = [
  'build',
  '-q',
  '-p',
  'switchyard-tests',
  '--bin',
  'differential-gen',
  '--message-format=json-render-diagnostics',
  ...OPTIMIZED.flatMap((p) => ['--config', `profile.dev.package.${p}.opt-level=3`]),
];

let cachedBin;

/** Path of the differential-gen binary (building it the first time). */
export function nativeBin() {
  if (cachedBin) return cachedBin;
  const prebuilt = process.env.SWITCHYARD_DIFFGEN;
  if (prebuilt) {
    if (!existsSync(prebuilt)) throw new Error(`SWITCHYARD_DIFFGEN=${prebuilt} does not exist`);
    return (cachedBin = prebuilt);
  }
  const r = spawnSync('cargo', CARGO_BUILD, {
    cwd: repoRoot,
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
    timeout: 15 * 60 * 1000,
  });
  if (r.error) throw new Error(`cannot run cargo to build differential-gen: ${r.error.message}`);
  if (r.status !== 0) {
    throw new Error(`cargo ${CARGO_BUILD.join(' ')} failed (${r.status}):\n${r.stderr}`);
  }
  // The artifact message names the executable, wherever the target dir is.
  for (const line of r.stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    const msg = JSON.parse(line);
    if (msg.reason === 'compiler-artifact' && msg.target?.name === 'differential-gen' && msg.executable) {
      return (cachedBin = msg.executable);
    }
  }
  throw new Error('cargo built differential-gen but reported no executable');
}

/** Runs the binary to completion; returns its stdout. */
export function runNative(args) {
  const r = spawnSync(nativeBin(), args, { encoding: 'utf8', maxBuffer: 1024 * 1024 * 1024 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`differential-gen ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

/**
 * The native stateJson of every conformance vector, by file name. Reads
 * $NATIVE_VIEWS when set (the "<vector>\t<view JSON>" lines vectors.test.js
 * also reads), else asks the binary (`--vectors`, the same format).
 */
export function nativeVectorViews() {
  const text = process.env.NATIVE_VIEWS
    ? readFileSync(process.env.NATIVE_VIEWS, 'utf8')
    : runNative(['--vectors']);
  const views = new Map();
  for (const line of text.split('\n')) {
    const tab = line.indexOf('\t');
    if (tab > 0) views.set(line.slice(0, tab), line.slice(tab + 1));
  }
  return views;
}

/** The lines of a readable stream, pulled (so the writer is held back by backpressure). */
async function* lines(stream) {
  stream.setEncoding('utf8');
  let rest = '';
  for await (const chunk of stream) {
    const parts = (rest + chunk).split('\n');
    rest = parts.pop();
    yield* parts;
  }
  if (rest) yield rest;
}

/** The generator writing `count` sequences' JSON lines to its stdout. */
export function spawnSequences({ count, firstSeed = 1 }) {
  return spawn(nativeBin(), ['--count', String(count), '--first-seed', String(firstSeed), '--out', '-'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/**
 * Generated sequences `{seed, mutated, frames: [text], state}` for seeds
 * firstSeed .. firstSeed+count-1, streamed from the generator while it runs
 * (it and the consumer then share the two cores).
 */
export async function* nativeSequences({ count, firstSeed = 1 }) {
  const child = spawnSequences({ count, firstSeed });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise((resolve) => child.on('close', resolve));
  try {
    for await (const line of lines(child.stdout)) {
      if (line) yield JSON.parse(line);
    }
  } finally {
    if (child.exitCode === null) child.kill();
  }
  const code = await exited;
  if (code !== 0) throw new Error(`differential-gen exited with ${code}: ${stderr}`);
}

/**
 * A long-lived native reducer (`differential-gen --reduce`): `state(texts)`
 * resolves to the native stateJson of that frame sequence. One process
 * serves every candidate of a minimization.
 */
export class NativeReducer {
  constructor() {
    this.child = spawn(nativeBin(), ['--reduce'], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.waiting = [];
    let stderr = '';
    this.child.stderr.on('data', (d) => (stderr += d));
    this.child.on('close', (code) => {
      const error = new Error(`differential-gen --reduce exited (${code}): ${stderr}`);
      for (const w of this.waiting.splice(0)) w.reject(error);
    });
    (async () => {
      for await (const line of lines(this.child.stdout)) this.waiting.shift()?.resolve(line);
    })();
  }

  /** Native stateJson after reducing `texts` (frame JSON texts) from an empty view. */
  state(texts) {
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.child.stdin.write(JSON.stringify(texts) + '\n');
    });
  }

  close() {
    this.child.stdin.end();
  }
}
