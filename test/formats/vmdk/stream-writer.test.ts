/**
 * The stream-optimized writer on an in-memory sink: grains in guest order
 * (pieces across grain boundaries, all-zero grains skipped), a grain table
 * only for tables that hold grains, and what it refuses.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { formatByName, openImage } from '../../../src/formats/registry.js';
import type { SequentialWriter } from '../../../src/formats/sequential.js';
import { CompressPool } from '../../../src/util/compress-pool.js';
import { rejectsWithCode } from '../../helpers/assert-error.js';
import { readAll } from '../../helpers/images.js';
import { tempDir } from '../../helpers/tmp.js';
import { grainOf } from '../../helpers/vmdk.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const dir = tempDir('vdisk-vmdk-stream-');

/** A stream-optimized writer for a disk of `size` bytes whose output collects in `parts`. */
async function writer(size: number, parts: Uint8Array[], spans = [{ start: 0, end: size }]): Promise<SequentialWriter> {
  const sink = { write: async (buf: Uint8Array) => void parts.push(buf.slice()) };
  return formatByName('vmdk').sequentialWriter!(sink, { virtualSize: size, options: { subformat: 'streamOptimized' }, spans, compressor: (o) => new CompressPool(o) });
}

describe('the stream-optimized VMDK writer', () => {
  it('writes the grains it is given in guest order, skips zero grains, and tables only where there are grains', async () => {
    const size = 100 * MiB + 512;
    const model = new Uint8Array(size);
    const parts: Uint8Array[] = [];
    const w = await writer(size, parts);
    // Grain 0 in three pieces, grain 2 zero, grains 3-4 across a boundary, grain 1100 (table 2), the disk's last sector.
    const pieces: [number, Uint8Array][] = [[0, grainOf(10 * KiB, 1)], [10 * KiB, grainOf(54 * KiB, 2)], [128 * KiB, new Uint8Array(64 * KiB)], [200 * KiB, grainOf(100 * KiB, 3)], [1100 * 64 * KiB + 7, grainOf(3000, 4)], [size - 512, grainOf(512, 5)]];
    for (const [at, data] of pieces) {
      await w.put(data, at);
      model.set(data, at);
    }
    await w.finish();
    const bytes = Buffer.concat(parts);
    const path = join(dir, 'pieces.vmdk');
    writeFileSync(path, bytes);
    const end = bytes.length;
    const gd = Number(bytes.readBigUInt64LE(end - 1024 + 56));
    const entries = [0, 1, 2, 3].map((g) => bytes.readUInt32LE(gd * 512 + g * 4));
    assert.ok(entries[0]! > 0 && entries[2]! > 0 && entries[3]! > 0, `tables 0, 2, 3 written: ${entries.join()}`);
    assert.equal(entries[1], 0, 'no table for grains 512-1023');
    const image = await openImage(path);
    try {
      assert.ok(Buffer.from(await readAll(image)).equals(Buffer.from(model)));
      const own = [];
      for await (const e of image.extents()) if (e.kind === 'data') own.push([e.offset / (64 * KiB), e.length / (64 * KiB)]);
      assert.deepEqual(own.slice(0, 2), [[0, 1], [3, 2]], 'grain 1 and the zero grain 2 hold nothing');
    } finally {
      await image.close();
    }
  });

  it('makes a valid empty disk, and refuses data out of guest order with USAGE', async () => {
    const parts: Uint8Array[] = [];
    const w = await writer(MiB, parts, []);
    await w.finish();
    const path = join(dir, 'empty.vmdk');
    writeFileSync(path, Buffer.concat(parts));
    const image = await openImage(path);
    try {
      assert.ok((await readAll(image)).every((b) => b === 0));
    } finally {
      await image.close();
    }
    const back = await writer(MiB, []);
    await back.put(grainOf(512, 1), 256 * KiB);
    await rejectsWithCode(back.put(grainOf(512, 1), 0), 'USAGE');
  });

  it('refuses a disk its 32-bit sector pointers cannot hold with OUT_OF_RANGE', async () => {
    await rejectsWithCode(writer(2 * 1024 * 1024 * MiB, []), 'OUT_OF_RANGE');
  });
});
