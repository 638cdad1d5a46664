/**
 * SIGKILL at many points inside real CLI runs of commit, rebase and compact,
 * on VHD and on VHDX chains, judged by vdisk and by the other side: after
 * each kill every file of the chain opens in libvhdi (vhdiinfo) and in
 * qemu-img, and libvhdi's guest view of the judged image (vhdimount) is the
 * expected one. A re-run then finishes and leaves a clean image with the
 * same view.
 *
 * qemu-img judges a VHD with `info -f vpc`. It has no VHDX differencing
 * support ("Operation not supported"), so it judges only the VHDX files
 * without a parent, with `check -f vhdx`; a file whose log needs replay is
 * valid (that is what the log is for: [MS-VHDX] 2.3.3) when qemu-img's
 * replay on a copy (`check -r all`) leaves an image that checks clean and,
 * for the judged image, holds the expected view.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { check } from '../../src/ops/check.js';
import { buildChain, viewOf, type ChainFormat, type LayerWrites } from '../helpers/chain.js';
import { REPO_ROOT, vdiskKilledAfter } from '../helpers/cli.js';
import { needTools, run, vhdiinfo, withVhdimount } from '../helpers/oracles.js';
import { tempDir } from '../helpers/tmp.js';

const MiB = 1024 * 1024;
const SIZE = 32 * MiB;
/** Kill points that must land inside a running operation. */
const KILLS = 50;
/** Most runs tried to get them (a run that finishes before its kill counts as a point after the end). */
const MAX_RUNS = 150;

/** Writes of 64 KiB every 256 KiB (12 MiB in all), over allocated and unallocated blocks below. */
function spreadWrites(seed: number): LayerWrites {
  const out: LayerWrites = [];
  for (let off = 0; off < SIZE; off += 256 * 1024) out.push([off + 4096, 64 * 1024 + (off % 3) * 4096, seed + off / 65536]);
  return out;
}

/** Eight 2 MiB runs of data, one every 4 MiB. */
const BASE: LayerWrites = Array.from({ length: 8 }, (_, i): [number, number, number] => [i * 4 * MiB, 2 * MiB, i + 1]);

/** Zeros written over most of the blocks, so compact has blocks to drop and later ones to move down. */
const ZEROED: LayerWrites = Array.from({ length: 12 }, (_, i): [number, number, number] => [i * 2 * MiB, 2 * MiB, 0]);

/** An operation to kill: the chain it runs on (base first), its CLI arguments, and the image whose view must never change. */
interface KillCase {
  name: string;
  format: ChainFormat;
  layers: LayerWrites[];
  args(paths: string[]): string[];
  /** Index in the chain of the image whose guest view is judged. */
  judged: number;
  /** Index of an image that must also show that view once the operation has finished (commit: the base). */
  after?: number;
}

const CASES: KillCase[] = (['vhd', 'vhdx'] as const).flatMap((format): KillCase[] => [
  { name: 'commit', format, layers: [BASE, spreadWrites(10)], args: (p) => ['commit', p[1]!], judged: 1, after: 0 },
  { name: 'rebase', format, layers: [BASE, spreadWrites(10), spreadWrites(40)], args: (p) => ['rebase', '-b', p[0]!, p[2]!], judged: 2 },
  { name: 'compact', format, layers: [[...BASE, ...spreadWrites(10), ...ZEROED]], args: (p) => ['compact', p[0]!], judged: 0 },
]);

/** qemu-img's verdict on a VHDX without a parent: it checks clean, directly or after qemu-img replays its log on a copy, and then equals `expected` (a raw file) when given. */
function qemuJudgesVhdx(path: string, expected: string | undefined, what: string): void {
  const direct = spawnSync('qemu-img', ['check', '-f', 'vhdx', path], { encoding: 'utf8' });
  let judged = path;
  if (direct.status !== 0) {
    assert.match(direct.stderr, /log that needs to be replayed/, `${what}: qemu-img check ${basename(path)}: ${direct.stderr}`);
    judged = `${path}.replayed`;
    copyFileSync(path, judged);
    const replay = spawnSync('qemu-img', ['check', '-r', 'all', '-f', 'vhdx', judged], { encoding: 'utf8' });
    assert.equal(replay.status, 0, `${what}: qemu-img check -r all (log replay) ${basename(path)}: ${replay.stdout}${replay.stderr}`);
  }
  if (expected) {
    const same = spawnSync('qemu-img', ['compare', '-f', 'vhdx', '-F', 'raw', judged, expected], { encoding: 'utf8' });
    assert.equal(same.status, 0, `${what}: qemu-img compare ${basename(path)} with the expected view: ${same.stdout}${same.stderr}`);
  }
  rmSync(`${path}.replayed`, { force: true });
}

/** `vdisk info --json` of one file. */
function infoOf(path: string): { formatSpecific: { dataWriteGuid?: string; parentLocator?: Record<string, string> } } {
  const r = spawnSync(process.execPath, [join(REPO_ROOT, 'bin', 'vdisk.js'), 'info', '--json', path], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as ReturnType<typeof infoOf>;
}

/**
 * True when libvhdi's refusal of a VHDX child is the one window it cannot
 * follow: the child already names the parent's next DataWriteGuid in
 * parent_linkage and its current one in parent_linkage2 ([MS-VHDX] 2.6.2.6.3
 * lets a reader match either; libvhdi 20210425 reads only the first), and the
 * parent has not taken the next one yet (the two fsyncs of a commit's start).
 */
function inLinkageWindow(child: string, parent: string, error: unknown): boolean {
  const locator = infoOf(child).formatSpecific.parentLocator ?? {};
  const current = `{${infoOf(parent).formatSpecific.dataWriteGuid}}`;
  return /mismatch in identifier/.test(String(error)) && locator.parent_linkage !== current && locator.parent_linkage2 === current;
}

/**
 * What other tools make of the chain after a kill: libvhdi and qemu-img open
 * every file, and libvhdi (and qemu-img, where it reads the file) reads the
 * judged image's expected view, held in the raw file `expectedRaw`.
 */
async function judgedByOthers(c: KillCase, paths: string[], expected: Buffer, expectedRaw: string, what: string): Promise<void> {
  const judged = paths[c.judged]!;
  for (const p of paths) {
    assert.doesNotThrow(() => vhdiinfo(p), `${what}: vhdiinfo ${basename(p)}`);
    if (c.format === 'vhdx') {
      if (p === paths[0]) qemuJudgesVhdx(p, p === judged ? expectedRaw : undefined, what);
      continue;
    }
    const q = spawnSync('qemu-img', ['info', '-f', 'vpc', p], { encoding: 'utf8' });
    assert.equal(q.status, 0, `${what}: qemu-img info ${basename(p)}: ${q.stderr}`);
  }
  try {
    await withVhdimount(judged, async (guest) => assert.ok((await readFile(guest)).equals(expected), `${what}: libvhdi's view of ${basename(judged)}`));
  } catch (err) {
    if (c.format !== 'vhdx' || c.judged === 0 || !inLinkageWindow(paths[c.judged]!, paths[c.judged - 1]!, err)) throw err;
  }
}

async function killAtManyPoints(t: TestContext, c: KillCase): Promise<void> {
  if (!needTools(t, 'vhdiinfo', 'vhdimount', 'fusermount3', 'qemu-img')) return;
  const dir = tempDir();
  const orig = join(dir, 'orig');
  mkdirSync(orig);
  const chain = await buildChain(orig, SIZE, c.layers, c.format);
  const expected = await viewOf(chain[c.judged]!);
  const expectedRaw = join(dir, 'expected.raw');
  writeFileSync(expectedRaw, expected);
  const work = join(dir, 'run');
  mkdirSync(work);
  const paths = chain.map((p) => join(work, basename(p)));
  const restore = () => chain.forEach((p, i) => copyFileSync(p, paths[i]!));
  const args = c.args(paths);

  assert.equal(spawnSync(process.execPath, [join(REPO_ROOT, 'bin', 'vdisk.js'), '--version']).status, 0);
  const full = { ms: Infinity };
  for (let k = 0; k < 2; k++) {
    restore();
    const r = await vdiskKilledAfter(args);
    assert.equal(r.code, 0);
    full.ms = Math.min(full.ms, r.ms);
  }
  let killed = 0;
  let runs = 0;
  // Kill points are spread over the shortest full run seen so far; a run that finishes first
  // (the machine was faster than the estimate) shortens the estimate for the next ones.
  for (; killed < KILLS && runs < MAX_RUNS; runs++) {
    restore();
    const delay = Math.round((full.ms * ((runs % 20) + 1)) / 21);
    const r = await vdiskKilledAfter(args, delay);
    if (r.signal === 'SIGKILL') killed++;
    else full.ms = Math.min(full.ms, r.ms);
    const what = `${c.format} ${c.name}: kill after ${delay} ms (run ${runs}, ${r.signal ?? `exit ${r.code}`})`;
    assert.ok((await viewOf(paths[c.judged]!)).equals(expected), `${what}: vdisk's view`);
    for (const p of paths) await viewOf(p);
    await judgedByOthers(c, paths, expected, expectedRaw, what);
    const again = await vdiskKilledAfter(args);
    assert.equal(again.code, 0, `${what}: the re-run`);
    for (const i of [c.judged, c.after ?? c.judged]) assert.ok((await viewOf(paths[i]!)).equals(expected), `${what}: view of ${basename(paths[i]!)} after the re-run`);
    const report = await check(paths[c.after ?? c.judged]!);
    assert.equal(report.result, 'clean', `${what}: ${JSON.stringify(report.findings)}`);
  }
  assert.ok(killed >= KILLS, `${c.format} ${c.name}: only ${killed} of ${runs} runs were killed before finishing (a full run takes ${full.ms} ms)`);
  run('vhdiinfo', [paths[c.judged]!]);
}

for (const c of CASES) {
  test(`SIGKILL at ${KILLS} points during a ${c.format} ${c.name}: every file opens in vdisk, libvhdi and qemu-img, the view never changes, a re-run finishes`, (t) => killAtManyPoints(t, c));
}
