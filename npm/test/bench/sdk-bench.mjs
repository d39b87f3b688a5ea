#!/usr/bin/env node
// SDK benchmark (not part of `npm test`): the wasm SessionView on the core
// bench's stream, testgen::realistic_stream(100_000, 42), in Node and in
// headless Chromium, and the time from importing the package to the first
// state() in a fresh process / fresh page.
//
//   node npm/test/bench/sdk-bench.mjs [--iterations N] [--ttfs-runs N] [--no-browser]
//
// Build the package first (bash scripts/build-sdk.sh). The stream is written
// by `differential-gen --bench-stream` (built with cargo on first use, or
// $SWITCHYARD_DIFFGEN). Prints a table, then the figures as one JSON line.
import { spawnSync } from 'node:child_process';
import { createReadStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { measureThroughput } from './measure.js';
import { runNative } from '../browser/native.js';
import { launchChromium, openHarness, staticServer } from '../browser/server.js';

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const ITERATIONS = option('--iterations', 7);
const TTFS_RUNS = option('--ttfs-runs', 15);
const BROWSER = !args.includes('--no-browser');
const WARMUP = 2;

const FIRST_FRAME = '{"v":1,"id":1,"type":"session_started","data":{"kind":"agent","agent":"demo","cwd":"/w"}}';
const nodeEntry = new URL('../../node.js', import.meta.url).href;

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const quantile = (xs, q) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))];
const fmtRate = (r) => `${(r / 1000).toFixed(0)}k frames/s`;
const fmtMs = (ms) => `${ms.toFixed(ms < 10 ? 2 : 1)} ms`;

// --- the stream --------------------------------------------------------------
const dir = mkdtempSync(join(tmpdir(), 'switchyard-sdk-bench-'));
const streamFile = join(dir, 'realistic-100k.jsonl');
runNative(['--bench-stream', '--frames', '100000', '--first-seed', '42', '--out', streamFile]);
const texts = readFileSync(streamFile, 'utf8').split('\n').filter(Boolean);
const streamBytes = texts.reduce((n, t) => n + t.length + 1, 0);

// --- Node: throughput --------------------------------------------------------
const { SessionView, sdkVersion } = await import(nodeEntry);
const node = measureThroughput(SessionView, texts, { iterations: ITERATIONS, warmup: WARMUP });

// --- Node: time to first state in a fresh process ----------------------------
// performance.now() counts from the process's start, so the child reports
// both "import → first state" and "process start → first state".
const probe = `
const t0 = performance.now();
const { SessionView } = await import(${JSON.stringify(nodeEntry)});
const t1 = performance.now();
const view = new SessionView();
view.apply(${JSON.stringify(FIRST_FRAME)});
view.state();
const t2 = performance.now();
process.stdout.write(JSON.stringify({ importMs: t1 - t0, firstStateMs: t2 - t0, processStartMs: t2 }));
`;
const nodeTtfs = [];
for (let i = 0; i < TTFS_RUNS; i++) {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', probe], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ttfs probe failed: ${r.stderr}`);
  nodeTtfs.push(JSON.parse(r.stdout));
}

// --- Chromium ----------------------------------------------------------------
let chromium;
if (BROWSER) {
  const BENCH_URL = '/__data/realistic-100k.jsonl';
  const server = await staticServer({
    routes: {
      [BENCH_URL]: (req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
        createReadStream(streamFile).pipe(res);
      },
    },
  });
  const browser = await launchChromium();
  try {
    // A fresh context per run: empty HTTP cache and no compiled-wasm cache,
    // i.e. a first visit.
    const ttfs = [];
    for (let i = 0; i < TTFS_RUNS; i++) {
      const context = await browser.newContext();
      const page = await openHarness(context, server.url);
      ttfs.push(await page.evaluate(() => window.harness.timings));
      await context.close();
    }
    const context = await browser.newContext();
    const page = await openHarness(context, server.url);
    const throughput = await page.evaluate(
      ([url, options]) => window.harness.bench(url, options),
      [BENCH_URL, { iterations: ITERATIONS, warmup: WARMUP }],
    );
    await context.close();
    chromium = { version: browser.version(), ttfs, throughput };
  } finally {
    await browser.close();
    await server.close();
  }
}
rmSync(dir, { recursive: true, force: true });

// --- report ------------------------------------------------------------------
const machine = `${cpus().length} vCPU ${cpus()[0]?.model ?? '?'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB`;
const versions = `node ${process.version}` + (chromium ? `; Chromium ${chromium.version}` : '');
console.log(`@switchyard/sdk ${sdkVersion()} — ${machine}; ${versions}`);
console.log(
  `stream: realistic_stream(100000, 42): ${texts.length} frames, ${(streamBytes / 2 ** 20).toFixed(1)} MiB of JSON; ` +
    `final view ${(node.viewBytes / 1024).toFixed(0)} KiB; median of ${ITERATIONS} runs after ${WARMUP} warm-up\n`,
);

const rows = [];
const envs = [['Node', node], ...(chromium ? [['Chromium', chromium.throughput]] : [])];
for (const name of Object.keys(node.results)) {
  const cells = envs.map(([, m]) => {
    const r = m.results[name];
    return name.startsWith('state') ? `${fmtMs(r.medianMs)}` : `${fmtRate(r.framesPerSec)} (${fmtMs(r.medianMs)})`;
  });
  rows.push([name, ...cells]);
}
const ttfsRow = (label, runs, key) => {
  const xs = runs.map((x) => x[key]);
  return [label, `${fmtMs(median(xs))} (p90 ${fmtMs(quantile(xs, 0.9))})`];
};
const nodeRows = [
  ttfsRow('first state: import → state() (Node, fresh process)', nodeTtfs, 'firstStateMs'),
  ttfsRow('  of which import (read .wasm + compile + instantiate)', nodeTtfs, 'importMs'),
  ttfsRow('first state: process start → state() (Node)', nodeTtfs, 'processStartMs'),
];
const browserRows = chromium
  ? [
      ttfsRow('first state: import → state() (Chromium, fresh context)', chromium.ttfs, 'importToFirstStateMs'),
      ttfsRow('  of which import + init() (fetch + compile + instantiate)', chromium.ttfs, 'importToInitMs'),
      ttfsRow('  of which import → .wasm requested (JS modules loaded)', chromium.ttfs, 'importToWasmRequestMs'),
      ttfsRow('  of which .wasm download (request → last byte)', chromium.ttfs, 'wasmDownloadMs'),
      ttfsRow('first state: navigation → state() (Chromium)', chromium.ttfs, 'navigationToFirstStateMs'),
    ]
  : [];

const table = (header, body) => {
  const all = [header, ...body];
  const widths = header.map((_, i) => Math.max(...all.map((r) => String(r[i] ?? '').length)));
  const line = (r) => `| ${r.map((c, i) => String(c ?? '').padEnd(widths[i])).join(' | ')} |`;
  console.log([line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)].join('\n'));
};
table(['100k-frame stream', ...envs.map(([e]) => e)], rows);
console.log();
table([`time to first state (median of ${TTFS_RUNS})`, ''], [...nodeRows, ...browserRows]);
console.log();
console.log(
  JSON.stringify({
    machine,
    node: process.version,
    chromium: chromium?.version,
    frames: texts.length,
    node_throughput: node,
    node_ttfs: nodeTtfs,
    chromium_throughput: chromium?.throughput,
    chromium_ttfs: chromium?.ttfs,
  }),
);
