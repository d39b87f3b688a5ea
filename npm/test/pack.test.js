// `npm pack` must yield a package that installs into a clean consumer
// project and works there: the files list, exports map, node entry and the
// shipped .wasm are all exercised from outside this repo.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkgRoot = fileURLToPath(new URL('..', import.meta.url));

test('npm pack installs into a clean consumer and reduces frames there', () => {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-pack-'));
  try {
    execFileSync('npm', ['pack', '--silent', '--pack-destination', dir], { cwd: pkgRoot });
    const tarball = readdirSync(dir).find((f) => f.endsWith('.tgz'));
    assert.ok(tarball, 'npm pack wrote a tarball');

    const consumer = join(dir, 'consumer');
    mkdirSync(consumer);
    writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    // The package has no runtime dependencies, so this needs no registry.
    execFileSync('npm', ['install', '--silent', '--no-audit', '--no-fund', join(dir, tarball)], { cwd: consumer });

    writeFileSync(
      join(consumer, 'check.mjs'),
      `import { SessionView, sdkVersion } from '@switchyard/sdk';
const v = new SessionView();
const frame = (id, text) => JSON.stringify({ v: 1, id, type: 'session_update',
  data: { update: { sessionUpdate: 'agent_message_chunk', content: { type: 'text', text } } } });
console.log(JSON.stringify({ version: sdkVersion(), a: v.apply(frame(1, 'hello ')), b: v.apply(frame(2, 'world')),
  text: v.state().transcript[0].text, last: v.lastEventId }));
`,
    );
    const out = JSON.parse(execFileSync('node', ['check.mjs'], { cwd: consumer, encoding: 'utf8' }));
    assert.deepEqual(
      { a: out.a, b: out.b, text: out.text, last: out.last },
      { a: 'applied', b: 'applied', text: 'hello world', last: 2 },
    );
    assert.match(out.version, /^\d+\.\d+\.\d+/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
