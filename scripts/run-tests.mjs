// Runs the compiled test suite (dist/test/**/*.test.js) with node:test.
// Before that it restores the real images of ../shared/fixtures/real into a
// temporary directory and checks which oracle tools exist. Missing tools or
// fixtures are named on one line and their tests skip, unless
// VDISK_REQUIRE_ORACLES=1 (set by .ci/run), which makes them fail the run.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const required = process.env.VDISK_REQUIRE_ORACLES === '1';
const env = { ...process.env };

function has(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

const tools = ['qemu-img', 'vhdiinfo', 'vhdimount', 'fusermount3', 'qemu-system-x86_64', 'radosgw', 'chromium'];
const missing = tools.filter((t) => !has(t));
if (!existsSync('/dev/fuse')) missing.push('/dev/fuse');
env.VDISK_ORACLES_MISSING = missing.join(',');

const restore = resolve(root, '..', 'shared', 'fixtures', 'real', 'restore.sh');
let fixtures;
if (existsSync(restore)) {
  fixtures = mkdtempSync(join(tmpdir(), 'vdisk-real-'));
  const r = spawnSync('sh', [restore, fixtures], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) {
    console.error('vdisk tests: restoring ../shared/fixtures/real failed');
    process.exit(1);
  }
  env.VDISK_REAL_FIXTURES = fixtures;
  env.VDISK_REAL_EXPECTED = resolve(root, '..', 'shared', 'fixtures', 'real', 'EXPECTED.tsv');
} else {
  missing.push('../shared/fixtures/real');
}
if (missing.length) {
  console.log(`vdisk tests: missing ${missing.join(', ')}: their tests ${required ? 'FAIL (VDISK_REQUIRE_ORACLES=1)' : 'are skipped'}`);
}

function testFiles(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return testFiles(p);
    return name.endsWith('.test.js') ? [p] : [];
  });
}

const files = testFiles(join(root, 'dist', 'test'));
const r = spawnSync(process.execPath, ['--test', ...process.argv.slice(2), ...files], { stdio: 'inherit', env });
if (fixtures) rmSync(fixtures, { recursive: true, force: true });
process.exit(r.status ?? 1);
