/**
 * The monolithic sparse VMDK vdisk creates and writes in place: its layout
 * (VMware's: descriptor, redundant and primary directories with every grain
 * table, grains after overHead), its descriptor, the options it takes, and
 * what it refuses to open for writing.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createImage, formatByName, openImage } from '../../../src/formats/registry.js';
import type { WritableDiskImage } from '../../../src/formats/types.js';
import { rejectsWithCode } from '../../helpers/assert-error.js';
import { readAll, writeBoth } from '../../helpers/images.js';
import { tempDir } from '../../helpers/tmp.js';
import { FIELD, buildSparseVmdk, grainOf } from '../../helpers/vmdk.js';

const MiB = 1024 * 1024;
const dir = tempDir('vdisk-vmdk-writer-');
let n = 0;

function create(size: number, options: Record<string, string> = {}, uuid?: string): Promise<WritableDiskImage> {
  return createImage(join(dir, `w${n++}.vmdk`), 'vmdk', { virtualSize: size, options, uuid });
}

describe('a new monolithic sparse VMDK', () => {
  it('is laid out as VMware lays it out: header, descriptor, redundant GD and tables, GD and tables, grains after a whole-grain overHead', async () => {
    const image = await create(100 * MiB);
    const path = image.path;
    await image.close();
    const bytes = readFileSync(path);
    assert.equal(bytes.subarray(0, 4).toString('latin1'), 'KDMV');
    assert.equal(bytes.readUInt32LE(FIELD.version), 1);
    assert.equal(bytes.readUInt32LE(FIELD.flags), 3, 'valid newline characters and a redundant directory');
    assert.equal(bytes.readBigUInt64LE(FIELD.capacity), 204800n);
    assert.equal(bytes.readBigUInt64LE(FIELD.grainSize), 128n);
    assert.equal(bytes.readBigUInt64LE(FIELD.descriptorOffset), 1n);
    assert.equal(bytes.readBigUInt64LE(FIELD.descriptorSize), 20n);
    assert.equal(bytes.readUInt32LE(FIELD.numGTEsPerGT), 512);
    assert.equal(bytes.readBigUInt64LE(FIELD.rgdOffset), 21n);
    // 4 tables of 4 sectors after a 1-sector directory: the GD follows at 21 + 1 + 16.
    assert.equal(bytes.readBigUInt64LE(FIELD.gdOffset), 38n);
    assert.equal(bytes.readBigUInt64LE(64), 128n, 'overHead is a whole grain');
    assert.equal(bytes.length, 128 * 512, 'no grain yet');
    assert.deepEqual([0, 1, 2, 3].map((g) => bytes.readUInt32LE(38 * 512 + g * 4)), [39, 43, 47, 51]);
    assert.deepEqual([0, 1, 2, 3].map((g) => bytes.readUInt32LE(21 * 512 + g * 4)), [22, 26, 30, 34]);
    assert.equal(bytes.subarray(73, 77).toString('latin1'), '\n \r\n');
  });

  it('describes itself: createType, fresh CIDs and uuid, lsilogic with SCSI geometry, hardware version 4', async () => {
    const a = await create(10 * MiB);
    const b = await create(10 * MiB, {}, '12345678-9abc-def0-1234-56789abcdef0');
    try {
      const fa = a.describe().formatSpecific!;
      const fb = b.describe().formatSpecific!;
      assert.equal(a.describe().subformat, 'monolithicSparse');
      assert.notEqual(fa.cid, fb.cid);
      assert.equal(fa.parentCid, 'ffffffff');
      assert.equal(fa.adapterType, 'lsilogic');
      assert.deepEqual(fa.geometry, { cylinders: 1, heads: 255, sectors: 63 });
      assert.equal(fa.virtualHWVersion, '4');
      assert.equal(fa.toolsVersion, '2147483647');
      assert.match(String(fa.longContentID), new RegExp(`^[0-9a-f]{24}${String(fa.cid)}$`));
      assert.equal(b.describe().uuid, '12345678-9abc-def0-1234-56789abcdef0');
      assert.equal(fb.ddbUuid, '12 34 56 78 9a bc de f0-12 34 56 78 9a bc de f0');
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('takes adapter_type, hwversion and block_size; ide caps cylinders at 16383', async () => {
    const image = await create(10 * 1024 * MiB, { adapter_type: 'ide', hwversion: '11', block_size: '1M' });
    try {
      const f = image.describe().formatSpecific!;
      assert.deepEqual(f.geometry, { cylinders: 16383, heads: 16, sectors: 63 });
      assert.equal(f.virtualHWVersion, '11');
      assert.equal(image.grain, MiB);
      const data = grainOf(20, 5);
      await image.writeAt(data, MiB - 10);
      const piece = new Uint8Array(MiB + 20);
      await image.readAt(piece, 0);
      assert.deepEqual(piece.subarray(MiB - 10, MiB + 10), data);
      assert.ok(piece.subarray(0, MiB - 10).every((b) => b === 0) && piece[MiB + 10] === 0);
    } finally {
      await image.close();
    }
  });

  it('refuses options it cannot honour with USAGE, and more than 2 TiB with OUT_OF_RANGE', async () => {
    for (const options of <Record<string, string>[]>[{ subformat: 'vmfs' }, { subformat: 'vmfsSparse' }, { adapter_type: 'scsi' }, { hwversion: '3' }, { hwversion: 'x' }, { block_size: '4K' }, { block_size: '96K' }, { subformat: 'streamOptimized' }]) {
      await rejectsWithCode(create(MiB, options), 'USAGE');
    }
    await rejectsWithCode(create(2 * 1024 * 1024 * MiB), 'OUT_OF_RANGE');
  });

  it('keeps its writes across a reopen, and zeroing allocates nothing', async () => {
    const image = await create(4 * MiB);
    const path = image.path;
    const model = new Uint8Array(4 * MiB);
    await writeBoth(image, model, 1000, 200000, 1);
    await image.flush();
    await image.close();
    const again = (await openImage(path, { writable: true })) as WritableDiskImage;
    await writeBoth(again, model, 3 * MiB + 7, 9, 2);
    await again.writeZeroes(0, 2 * MiB);
    model.fill(0, 0, 2 * MiB);
    await again.flush();
    const size = readFileSync(path).length;
    await again.close();
    const last = await openImage(path);
    try {
      assert.ok(Buffer.from(await readAll(last)).equals(Buffer.from(model)));
      assert.equal(size, (1 + 4 + 1) * 64 * 1024, 'overHead (one grain), four grains of the first write, one of the second');
    } finally {
      await last.close();
    }
  });
});

describe('opening a VMDK for writing', () => {
  it('writes a flat extent in place; refuses compressed grains with UNSUPPORTED, a damaged directory with CORRUPT', async () => {
    const stream = join(dir, 'stream.vmdk');
    writeFileSync(stream, buildSparseVmdk({ capacity: 4096, compressed: true, grains: new Map([[0, grainOf(4096, 1)]]) }).bytes);
    await rejectsWithCode(openImage(stream, { writable: true }), 'UNSUPPORTED');
    const flat = join(dir, 'flat.vmdk');
    writeFileSync(join(dir, 'flat-flat.vmdk'), Buffer.alloc(MiB + 512));
    writeFileSync(flat, '# Disk DescriptorFile\nversion=1\nCID=1\nparentCID=ffffffff\ncreateType="monolithicFlat"\nRW 2048 FLAT "flat-flat.vmdk" 1\n');
    const w = (await openImage(flat, { writable: true })) as WritableDiskImage;
    await w.writeAt(grainOf(1000, 9), 100);
    await w.flush();
    await w.close();
    assert.deepEqual(readFileSync(join(dir, 'flat-flat.vmdk')).subarray(612, 1612), Buffer.from(grainOf(1000, 9)), 'at the extent line\'s offset (one sector in)');
    const l = buildSparseVmdk({ capacity: 4096, redundant: true, grains: new Map([[0, grainOf(4096, 1)]]) });
    l.bytes.writeBigUInt64LE(10n ** 9n, FIELD.gdOffset);
    const damaged = join(dir, 'damaged.vmdk');
    writeFileSync(damaged, l.bytes);
    await rejectsWithCode(openImage(damaged, { writable: true }), 'CORRUPT');
    const holes = buildSparseVmdk({ capacity: 4096, grains: new Map([[0, grainOf(4096, 1)]]) });
    holes.bytes.writeUInt32LE(0, holes.gdSector * 512);
    const noTables = join(dir, 'notables.vmdk');
    writeFileSync(noTables, holes.bytes);
    await rejectsWithCode(openImage(noTables, { writable: true }), 'UNSUPPORTED');
  });
});

describe('a VMDK of a descriptor and extent files', () => {
  it('is made by create too (monolithicFlat, twoGbMaxExtentSparse, twoGbMaxExtentFlat), refuses to be a delta or to go to a pipe, and leaves nothing when an extent name is taken', async () => {
    const split = await createImage(join(dir, 'split.vmdk'), 'vmdk', { virtualSize: 5000 * MiB, options: { subformat: 'twoGbMaxExtentSparse' } });
    try {
      assert.deepEqual(split.layer.files().map((f) => f.slice(dir.length + 1)), ['split.vmdk', 'split-s001.vmdk', 'split-s002.vmdk', 'split-s003.vmdk']);
      await rejectsWithCode(createImage(join(dir, 'child.vmdk'), 'vmdk', { virtualSize: 5000 * MiB, options: { subformat: 'monolithicFlat' }, parent: split }), 'USAGE');
    } finally {
      await split.close();
    }
    const flat = await createImage(join(dir, 'flats.vmdk'), 'vmdk', { virtualSize: 5000 * MiB, options: { subformat: 'twoGbMaxExtentFlat' } });
    try {
      assert.deepEqual(flat.layer.files().map((f) => f.slice(dir.length + 1)), ['flats.vmdk', 'flats-f001.vmdk', 'flats-f002.vmdk', 'flats-f003.vmdk']);
      assert.match(readFileSync(join(dir, 'flats.vmdk'), 'utf8'), /createType="twoGbMaxExtentFlat"\n\n# Extent description\nRW 4192256 FLAT "flats-f001.vmdk" 0\nRW 4192256 FLAT "flats-f002.vmdk" 0\nRW 1855488 FLAT "flats-f003.vmdk" 0\n/);
      assert.deepEqual(['f001', 'f002', 'f003'].map((n) => statSync(join(dir, `flats-${n}.vmdk`)).size), [4192256 * 512, 4192256 * 512, 1855488 * 512]);
    } finally {
      await flat.close();
    }
    const sink = { write: async () => undefined };
    for (const subformat of ['monolithicFlat', 'twoGbMaxExtentFlat']) {
      await rejectsWithCode(formatByName('vmdk').sequentialWriter!(sink, { virtualSize: MiB, options: { subformat }, spans: [] }), 'UNSUPPORTED');
    }
    writeFileSync(join(dir, 'taken-s002.vmdk'), 'not mine');
    await rejectsWithCode(createImage(join(dir, 'taken.vmdk'), 'vmdk', { virtualSize: 5000 * MiB, options: { subformat: 'twoGbMaxExtentSparse' } }), 'IO');
    assert.equal(existsSync(join(dir, 'taken.vmdk')), false);
    assert.equal(existsSync(join(dir, 'taken-s001.vmdk')), false);
    assert.equal(readFileSync(join(dir, 'taken-s002.vmdk'), 'utf8'), 'not mine');
  });
});
