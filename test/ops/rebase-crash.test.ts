import assert from 'node:assert/strict';
import { basename, join } from 'node:path';
import { test } from 'node:test';
import { openImage } from '../../src/formats/registry.js';
import { check } from '../../src/ops/check.js';
import { rebase } from '../../src/ops/rebase.js';
import { buildChain, viewOf, type LayerWrites } from '../helpers/chain.js';
import { Recorder, crashStates, materialise, snapshot } from '../helpers/fault-file.js';
import { tempDir } from '../helpers/tmp.js';

const KiB = 1024;
const SIZE = 8 * 1024 * KiB;
const B = 512 * KiB;

const LAYERS: LayerWrites[] = [
  [[0, 2 * B, 1], [4 * B, B, 2], [9 * B, 3 * B, 3]],
  [[B + 4096, 8192, 4], [6 * B, B, 5], [10 * B, 4096, 0]],
  [[100, 3000, 6], [6 * B + 8192, 4096, 7], [14 * B, B, 8]],
];

async function parentName(path: string): Promise<string | undefined> {
  const image = await openImage(path);
  try {
    return image.parent ? basename(image.parent.path) : undefined;
  } finally {
    await image.close();
  }
}

test('safe rebase keeps the guest view and survives a power cut at every flush point', async () => {
  const dir = tempDir();
  const [base, mid, top] = await buildChain(dir, SIZE, LAYERS);
  const expected = await viewOf(top!);
  const initial = snapshot([base!, mid!, top!]);
  const rec = new Recorder();
  const result = await rebase(top!, base!, { openFile: rec.opener });
  assert.ok(result.copiedBytes > 0, 'the middle layer differed from the base, so data was copied');
  assert.equal(await parentName(top!), 'base.vhd');
  assert.deepEqual(await viewOf(top!), expected);
  assert.ok(rec.events.every((e) => e.path === top), 'rebase writes only the child');

  let n = 0;
  for (const state of crashStates(initial, rec.events)) {
    const at = await materialise(state, join(dir, `state${n++}`));
    const child = at.get(top!)!;
    assert.deepEqual(await viewOf(child), expected, `view after a cut ${state.description}`);
    await rebase(child, at.get(base!)!);
    assert.deepEqual(await viewOf(child), expected, `view after re-running rebase (${state.description})`);
    assert.equal(await parentName(child), 'base.vhd');
    const report = await check(child);
    assert.notEqual(report.result, 'corruption', `${state.description}: ${JSON.stringify(report.findings)}`);
  }
  assert.ok(n >= 10, `only ${n} crash states`);
});

test('unsafe rebase only rewrites the reference (the view then comes from the new parent)', async () => {
  const dir = tempDir();
  const [base, , top] = await buildChain(dir, SIZE, LAYERS);
  const before = await viewOf(top!);
  const result = await rebase(top!, base!, { unsafe: true });
  assert.equal(result.copiedBytes, 0);
  assert.equal(await parentName(top!), 'base.vhd');
  const after = await viewOf(top!);
  assert.notDeepEqual(after, before, 'the middle layer no longer shows through');
  assert.deepEqual(after.subarray(100, 3100), before.subarray(100, 3100), "the child's own data stays");
});
