/** commit writes the base through an O_DIRECT descriptor (aligned data only) and keeps the guest view; crash safety: commit-crash*.test.ts. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileHelper } from '../../src/io/native.js';
import { commit } from '../../src/ops/commit.js';
import { buildChain, CHAIN_BLOCK_SIZE, viewOf } from '../helpers/chain.js';
import { descriptorsOn } from '../helpers/descriptors.js';
import { tempDir } from '../helpers/tmp.js';

for (const format of ['vhd', 'vhdx', 'qcow2'] as const) {
  test(`${format}: commit opens the base for direct writes and the child's view becomes the base's`, { skip: fileHelper.kind !== 'native' && 'no native helper' }, async () => {
    const B = CHAIN_BLOCK_SIZE[format];
    const [base, top] = await buildChain(tempDir(), 16 * B, [[[0, 2 * B, 1], [5 * B, B, 2]], [[B, 3 * B, 3], [12 * B + 4096, 8192, 4]]], format);
    const expected = await viewOf(top!);
    let direct = 0;
    await commit(top!, {
      onProgress: () => {
        direct = Math.max(direct, descriptorsOn(base!).direct);
      },
    });
    assert.equal(direct, 1, 'the base had an O_DIRECT descriptor during the copy');
    assert.deepEqual(await viewOf(base!), expected);
  });
}

test('commit -b warns that the layers between base and child lost their own guest views; a plain commit and --drop do not', async () => {
  const B = CHAIN_BLOCK_SIZE.qcow2;
  const layers: [number, number, number][][] = [[[0, B, 1]], [[B, B, 2]], [[2 * B, B, 3]]];
  const [base, middle, top] = await buildChain(tempDir(), 8 * B, layers, 'qcow2');
  const warnings: string[] = [];
  await commit(top!, { base: base!, onWarning: (w) => warnings.push(w) });
  assert.equal(warnings.length, 1);
  assert.ok(warnings[0]!.includes(`(${middle!}) no longer hold guest views of their own`), warnings[0]);
  const [, , top2] = await buildChain(tempDir(), 8 * B, layers, 'qcow2');
  const plain: string[] = [];
  await commit(top2!, { onWarning: (w) => plain.push(w) });
  assert.deepEqual(plain, []);
  const [base3, , top3] = await buildChain(tempDir(), 8 * B, layers, 'qcow2');
  const dropped: string[] = [];
  await commit(top3!, { base: base3!, drop: true, onWarning: (w) => dropped.push(w) });
  assert.deepEqual(dropped, []);
});
