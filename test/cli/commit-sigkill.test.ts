import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { check } from '../../src/ops/check.js';
import { commit } from '../../src/ops/commit.js';
import { buildChain, viewOf, type LayerWrites } from '../helpers/chain.js';
import { REPO_ROOT } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

const MiB = 1024 * 1024;
const SIZE = 32 * MiB;
/** Kill points that must land inside a running commit. */
const KILLS = 50;
/** Most runs tried to get them (a run that finishes before its kill counts as a point after the end). */
const MAX_RUNS = 150;

/** Top-layer writes: 64 KiB every 256 KiB (12 MiB in all), over allocated and unallocated base blocks. */
function topWrites(): LayerWrites {
  const out: LayerWrites = [];
  for (let off = 0; off < SIZE; off += 256 * 1024) out.push([off + 4096, 64 * 1024 + (off % 3) * 4096, 10 + off / 65536]);
  return out;
}

const LAYERS: LayerWrites[] = [
  Array.from({ length: 8 }, (_, i): [number, number, number] => [i * 4 * MiB, 2 * MiB, i + 1]),
  topWrites(),
];

function runCli(args: string[], killAfterMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, [join(REPO_ROOT, 'bin', 'vdisk.js'), ...args], { stdio: 'ignore' });
    const timer = killAfterMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, ms: Date.now() - t0 });
    });
  });
}

test(`SIGKILL at ${KILLS} points during commit: every file opens, the top view never changes, a re-run finishes`, async () => {
  const dir = tempDir();
  const orig = join(dir, 'orig');
  mkdirSync(orig);
  const [base, top] = await buildChain(orig, SIZE, LAYERS);
  const expected = await viewOf(top!);
  const run = join(dir, 'run');
  mkdirSync(run);
  const runBase = join(run, 'base.vhd');
  const runTop = join(run, 'layer1.vhd');
  const restore = () => {
    copyFileSync(base!, runBase);
    copyFileSync(top!, runTop);
  };

  const startup = spawnSync(process.execPath, [join(REPO_ROOT, 'bin', 'vdisk.js'), '--version']);
  assert.equal(startup.status, 0);
  const full = { ms: Infinity };
  for (let k = 0; k < 2; k++) {
    restore();
    const r = await runCli(['commit', runTop]);
    assert.equal(r.code, 0);
    assert.deepEqual(await viewOf(runBase), expected);
    full.ms = Math.min(full.ms, r.ms);
  }

  let killed = 0;
  let runs = 0;
  // Kill points are spread over the shortest full run seen so far; a run that finishes first
  // (the machine was faster than the estimate) shortens the estimate for the next ones.
  for (; killed < KILLS && runs < MAX_RUNS; runs++) {
    restore();
    const delay = Math.round((full.ms * ((runs % 20) + 1)) / 21);
    const r = await runCli(['commit', runTop], delay);
    if (r.signal === 'SIGKILL') killed++;
    else full.ms = Math.min(full.ms, r.ms);
    const what = `kill after ${delay} ms (run ${runs}, ${r.signal ?? `exit ${r.code}`})`;
    assert.deepEqual(await viewOf(runTop), expected, `top view after ${what}`);
    await viewOf(runBase);
    await commit(runTop);
    assert.deepEqual(await viewOf(runBase), expected, `re-run after ${what}`);
    const report = await check(runBase);
    assert.equal(report.result, 'clean', `${what}: ${JSON.stringify(report.findings)}`);
  }
  assert.ok(killed >= KILLS, `only ${killed} of ${runs} runs were killed before finishing (a full commit takes ${full.ms} ms)`);
});
