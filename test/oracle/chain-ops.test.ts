import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { openImage } from '../../src/formats/registry.js';
import type { WritableDiskImage } from '../../src/formats/types.js';
import { fillPattern } from '../helpers/pattern-disk.js';
import { buildChain, viewOf, type LayerWrites } from '../helpers/chain.js';
import { vdisk } from '../helpers/cli.js';
import { needTools, run, withVhdimount } from '../helpers/oracles.js';
import { tempDir } from '../helpers/tmp.js';

const MiB = 1024 * 1024;
const SIZE = 16 * MiB;

const LAYERS: LayerWrites[] = [
  [[0, 3 * MiB, 1], [8 * MiB, 2 * MiB, 2]],
  [[MiB + 4096, 8192, 3], [5 * MiB, MiB, 4], [9 * MiB, 4096, 0]],
  [[100, 3000, 5], [8 * MiB + 12345, 70000, 6], [SIZE - 4096, 4096, 7]],
];

/** Asserts that every layer vhdimount exposes for `image` equals vdisk's view of the matching file. */
async function assertLayersMatch(image: string, files: string[]): Promise<void> {
  const views = await Promise.all(files.map((f) => viewOf(f)));
  await withVhdimount(image, async (_guest, layers) => {
    assert.equal(layers.length, files.length, 'one vhdimount layer per file of the chain');
    for (let i = 0; i < files.length; i++) assert.deepEqual(await readFile(layers[i]!), views[i], `layer ${i} (${files[i]})`);
  });
}

test('snapshot, commit and commit -b agree with vhdimount and qemu-img', async (t) => {
  if (!needTools(t, 'vhdimount', 'qemu-img')) return;
  const dir = tempDir();
  const [base, mid, top] = await buildChain(dir, SIZE, LAYERS);
  const snap = join(dir, 'snap.vhd');
  assert.equal(vdisk('snapshot', top!, snap).status, 0);
  const w = (await openImage(snap, { writable: true })) as WritableDiskImage;
  const data = new Uint8Array(3 * MiB + 777);
  fillPattern(data, 0, 99);
  await w.writeAt(data, 2 * MiB + 333);
  await w.flush();
  await w.close();
  const expected = await viewOf(snap);
  await assertLayersMatch(snap, [base!, mid!, top!, snap]);

  assert.equal(vdisk('commit', snap).status, 0);
  assert.deepEqual(await viewOf(top!), expected, 'the parent now holds the child view');
  assert.deepEqual(await viewOf(snap), expected, 'the child is unchanged');
  await assertLayersMatch(snap, [base!, mid!, top!, snap]);
  assert.equal(vdisk('check', top!).status, 0);

  const r = vdisk('commit', '-b', base!, '--drop', snap);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(await viewOf(base!), expected);
  const raw = join(dir, 'expected.raw');
  writeFileSync(raw, expected);
  run('qemu-img', ['compare', '-f', 'vpc', '-F', 'raw', base!, raw]);
  assert.equal(vdisk('check', base!).status, 0);
  await withVhdimount(base!, async (guest) => assert.deepEqual(await readFile(guest), expected));
});

test('rebase onto the grandparent keeps the view, as vhdimount reads it', async (t) => {
  if (!needTools(t, 'vhdimount')) return;
  const dir = tempDir();
  const [base, , top] = await buildChain(dir, SIZE, LAYERS);
  const expected = await viewOf(top!);
  const r = vdisk('rebase', '-b', base!, top!);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(await viewOf(top!), expected);
  await assertLayersMatch(top!, [base!, top!]);
  assert.equal(vdisk('check', top!).status, 0);
  const info = JSON.parse(vdisk('info', '--chain', '--json', top!).stdout) as { filename: string }[];
  assert.equal(info.length, 2);
  assert.ok(info[1]!.filename.endsWith('base.vhd'));
});
