/**
 * Reading VDI: images qemu-img makes (dynamic and static, data at both ends,
 * a partial last block) read byte-equal to qemu-img's raw conversion, and a
 * hand-built differencing chain (which qemu cannot make) reads through to
 * its parent, found by UUID among the .vdi files beside it.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { detectFormat, openImage } from '../../../src/formats/registry.js';
import { check } from '../../../src/ops/check.js';
import { randomUuid } from '../../../src/util/uuid.js';
import { rejectsWithCode } from '../../helpers/assert-error.js';
import { extentsOf, guestSha256, readAll } from '../../helpers/images.js';
import { needTools, run, sha256OfFile } from '../../helpers/oracles.js';
import { prng } from '../../helpers/prng.js';
import { tempDir } from '../../helpers/tmp.js';
import { buildVdi, type VdiBlock } from '../../helpers/vdi.js';

const MiB = 1024 * 1024;

function filled(length: number, seed: number): Uint8Array {
  const next = prng(seed);
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = next() & 0xff;
  return out;
}

for (const variant of [
  { name: 'dynamic', options: [] as string[], subformat: 'dynamic' },
  { name: 'static', options: ['-o', 'static=on'], subformat: 'fixed' },
]) {
  test(`a ${variant.name} VDI qemu-img made reads as qemu-img converts it to raw`, async (t) => {
    if (!needTools(t, 'qemu-img', 'qemu-io')) return;
    const dir = tempDir();
    const path = join(dir, 'disk.vdi');
    const size = 9 * MiB + 3 * 512;
    run('qemu-img', ['create', '-f', 'vdi', ...variant.options, path, String(size)]);
    run('qemu-io', ['-f', 'vdi', '-c', 'write -P 0x5a 0 64k', '-c', 'write -P 0xa5 3M 1536k', '-c', `write -P 0x11 ${size - 1024} 1024`, path]);
    const raw = join(dir, 'disk.raw');
    run('qemu-img', ['convert', '-f', 'vdi', '-O', 'raw', path, raw]);
    assert.equal(await detectFormat(path), 'vdi');
    const image = await openImage(path);
    try {
      assert.equal(image.virtualSize, size);
      assert.equal(image.describe().subformat, variant.subformat);
      assert.equal(await guestSha256(image), await sha256OfFile(raw));
    } finally {
      await image.close();
    }
    assert.deepEqual((await check(path)).findings, []);
  });
}

test('a differencing VDI reads its own blocks, zero blocks as zeros, and free blocks from the parent it finds by UUID', async () => {
  const dir = tempDir();
  const B = MiB;
  const baseUuid = randomUuid();
  const base = [filled(B, 1), filled(B, 2), filled(B, 3)];
  writeFileSync(join(dir, 'a-other.vdi'), buildVdi({ diskSize: 3 * B, uuidCreate: randomUuid() }));
  writeFileSync(join(dir, 'base.vdi'), buildVdi({ diskSize: 3 * B, uuidCreate: baseUuid, blocks: new Map(base.map((b, i) => [i, b])) }));
  const own = filled(B, 9);
  const child = join(dir, 'child.vdi');
  writeFileSync(child, buildVdi({ diskSize: 3 * B, uuidCreate: randomUuid(), uuidLinkage: baseUuid, blocks: new Map<number, VdiBlock>([[0, own], [1, 'zero']]) }));
  const image = await openImage(child);
  try {
    assert.equal(image.parent?.path, join(dir, 'base.vdi'));
    const all = await readAll(image);
    assert.deepEqual(all.subarray(0, B), own);
    assert.ok(all.subarray(B, 2 * B).every((x) => x === 0));
    assert.deepEqual(all.subarray(2 * B), base[2]);
    assert.deepEqual((await extentsOf(image)).map((e) => [e.offset, e.length, e.kind, e.depth]), [
      [0, B, 'data', 0],
      [B, B, 'zero', 0],
      [2 * B, B, 'data', 1],
    ]);
  } finally {
    await image.close();
  }
});

test('a differencing VDI whose parent UUID no .vdi file has is a PARENT error', async () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'base.vdi'), buildVdi({ diskSize: MiB, uuidCreate: randomUuid() }));
  const child = join(dir, 'child.vdi');
  writeFileSync(child, buildVdi({ diskSize: MiB, uuidCreate: randomUuid(), uuidLinkage: randomUuid() }));
  await rejectsWithCode(openImage(child), 'PARENT');
});

test('a missing VDI parent in a folder of many files: every file is judged by its header, and the error names 8 of them and counts the rest', async () => {
  const dir = tempDir();
  for (let i = 0; i < 20; i++) writeFileSync(join(dir, `other-${String(i).padStart(2, '0')}.${i % 2 ? 'vdi' : 'img'}`), buildVdi({ diskSize: MiB, uuidCreate: randomUuid() }));
  const child = join(dir, 'child.vdi');
  writeFileSync(child, buildVdi({ diskSize: MiB, uuidCreate: randomUuid(), uuidLinkage: randomUuid() }));
  const err = await rejectsWithCode(openImage(child), 'PARENT');
  assert.match(err.message, /; and 12 more \(--ignore-parent-uuid/);
  assert.equal((err.details.found as string[]).length, 20, 'the details keep every file');
  assert.ok(!err.message.includes('\n'));
});

test('block sizes other than 1 MiB and a block extra area read where the header says', async () => {
  const dir = tempDir();
  const B = 64 * 1024;
  const blocks = new Map([[0, filled(B, 4)], [5, filled(B, 5)]]);
  const path = join(dir, 'odd.vdi');
  writeFileSync(path, buildVdi({ diskSize: 6 * B - 512, blockSize: B, blockExtra: 4096, uuidCreate: randomUuid(), blocks }));
  const image = await openImage(path);
  try {
    const all = await readAll(image);
    assert.deepEqual(all.subarray(0, B), blocks.get(0));
    assert.deepEqual(all.subarray(5 * B), blocks.get(5)!.subarray(0, B - 512));
    assert.ok(all.subarray(B, 5 * B).every((x) => x === 0));
  } finally {
    await image.close();
  }
  assert.deepEqual((await check(path)).findings, []);
});
