import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { check } from '../../src/ops/check.js';
import { commit } from '../../src/ops/commit.js';
import { openImage } from '../../src/formats/registry.js';
import { buildChain, viewOf, type LayerWrites } from '../helpers/chain.js';
import { Recorder, crashStates, materialise, snapshot, type FileEvent } from '../helpers/fault-file.js';
import { tempDir } from '../helpers/tmp.js';

const KiB = 1024;
const SIZE = 8 * 1024 * KiB;
const B = 512 * KiB;

/** Base with data in half its blocks; a middle layer; a top layer with partial blocks, explicit zeros and block-spanning writes. */
const LAYERS: LayerWrites[] = [
  [[0, 2 * B, 1], [4 * B, B, 2], [9 * B, 3 * B, 3]],
  [[B + 4096, 8192, 4], [6 * B, B, 5]],
  [[100, 3000, 6], [2 * B - 4096, 12 * KiB, 7], [4 * B + 8192, 64 * KiB, 0], [7 * B, B, 8], [14 * B + 512, 512, 9], [SIZE - 4096, 4096, 10]],
];

/** Commits into layer `baseIndex` of a VHD (512 KiB blocks) or qcow2 (64 KiB clusters) chain and replays every power cut of it. */
async function crashTest(baseIndex: number, format: 'vhd' | 'qcow2' = 'vhd'): Promise<number> {
  const dir = tempDir();
  const paths = await buildChain(dir, SIZE, LAYERS, format);
  const top = paths[paths.length - 1]!;
  const expected = await viewOf(top);
  const initial = snapshot(paths);
  const rec = new Recorder();
  await commit(top, { base: paths[baseIndex], openFile: rec.opener });
  assert.ok(rec.events.some((e) => e.kind === 'sync'), 'commit flushed');
  const linked = paths[baseIndex + 1];
  const headerOnly = (e: FileEvent) => e.path === linked && (e.kind === 'sync' || (e.kind === 'write' && e.offset === 512 && e.data.length === 1024));
  assert.ok(rec.events.every((e) => e.path === paths[baseIndex] || headerOnly(e)), 'commit writes into the base, and at most the parent time stamp of the layer above it');
  assert.deepEqual(await viewOf(paths[baseIndex]!), expected, 'the base now holds the top view');

  let n = 0;
  for (const state of crashStates(initial, rec.events)) {
    const at = await materialise(state, join(dir, `state${n++}`));
    const stateTop = at.get(top)!;
    const base = at.get(paths[baseIndex]!)!;
    assert.deepEqual(await viewOf(stateTop), expected, `top view after a cut ${state.description}`);
    await viewOf(base);
    await commit(stateTop, { base });
    assert.deepEqual(await viewOf(base), expected, `re-run commit finishes the job (${state.description})`);
    assert.deepEqual(await viewOf(stateTop), expected);
    const report = await check(base);
    // A qcow2 cut leaves leaked clusters at worst (refcounts raised before the entries that use them).
    const fine = report.result === 'clean' || (format === 'qcow2' && report.result === 'leaks');
    assert.ok(fine, `${state.description}: ${report.result} ${JSON.stringify(report.findings)}`);
  }
  return n;
}

test('commit into the parent survives a power cut at every flush point', async () => {
  const states = await crashTest(1);
  assert.ok(states >= 10, `only ${states} crash states`);
});

test('commit -b down to the base survives a power cut at every flush point', async () => {
  const states = await crashTest(0);
  assert.ok(states >= 10, `only ${states} crash states`);
});

test('qcow2: commit into the parent and down to the base survive a power cut at every flush point', async () => {
  for (const baseIndex of [1, 0]) {
    const states = await crashTest(baseIndex, 'qcow2');
    assert.ok(states >= 10, `only ${states} crash states`);
  }
});

test('commit re-records the base\'s modification time in the layer above it (VHD Parent Time Stamp)', async () => {
  const dir = tempDir();
  const paths = await buildChain(dir, SIZE, LAYERS);
  // The stamp has whole seconds: let the commit happen in a later second than the linking did.
  await new Promise((r) => setTimeout(r, 1100));
  const stampOf = async (p: string) => {
    const image = await openImage(p);
    const stamp = (image.describe().formatSpecific as { parentTimestamp: string }).parentTimestamp;
    await image.close();
    return stamp;
  };
  const before = await stampOf(paths[1]!);
  await commit(paths[2]!, { base: paths[0] });
  const mtime = new Date(Math.floor(statSync(paths[0]!).mtimeMs / 1000) * 1000);
  assert.equal(new Date(await stampOf(paths[1]!)).getTime(), mtime.getTime());
  assert.notEqual(await stampOf(paths[1]!), before);
  assert.equal((await check(paths[1]!)).result, 'clean');
});
