/**
 * ChainImage builds every format's guest view from layer maps. These layers
 * are made by hand over memory, one of each run kind, so each rule of the
 * composition is seen on its own: stored (plain and sparse), compressed,
 * zero, absent with and without a parent, and a parent smaller than the child.
 */
import assert from 'node:assert/strict';
import { deflateRawSync, deflateSync } from 'node:zlib';
import { describe, it } from 'node:test';
import { ChainImage, WritableChainImage } from '../../src/chain/chain-image.js';
import { readCompressed } from '../../src/chain/decompress.js';
import type { Range } from '../../src/io/byte-source.js';
import { MemoryFile } from '../../src/io/memory-file.js';
import type { Layer, Run, WritableLayer } from '../../src/formats/layer.js';
import { rejectsWithCode } from '../helpers/assert-error.js';
import { extentsOf, readAll } from '../helpers/images.js';

/** A layer whose map is a fixed list of runs (cut to the range asked for). */
function fixedLayer(size: number, runs: Run[]): Layer {
  return {
    format: 'test',
    path: '(test)',
    virtualSize: size,
    grain: 4096,
    warnings: [],
    async *map({ offset, length }: Range) {
      for (const r of runs) {
        const start = Math.max(r.offset, offset);
        const end = Math.min(r.offset + r.length, offset + length);
        if (start >= end) continue;
        const cut = start - r.offset;
        if (r.kind === 'stored') yield { ...r, offset: start, length: end - start, at: r.at + cut };
        else if (r.kind === 'compressed') yield { ...r, offset: start, length: end - start, within: r.within + cut };
        else yield { ...r, offset: start, length: end - start };
      }
    },
    files: () => ['(test)'],
    describe: () => ({ filename: '(test)', format: 'test', virtualSize: size, fileSize: 0, warnings: [] }),
    check: async () => [],
    close: async () => undefined,
  };
}

/** A memory source holding `bytes` at `at`. */
async function source(bytes: Uint8Array, at = 0, size = at + bytes.length): Promise<MemoryFile> {
  const f = new MemoryFile();
  await f.truncate(size);
  await f.write(bytes, at);
  return f;
}

const fill = (n: number, v: number) => new Uint8Array(n).fill(v);

describe('ChainImage: the guest view from layer maps', () => {
  it('stored, compressed (deflate and zlib), zero and absent runs read as their bytes; compressed ones are UNSUPPORTED without a decoder', async () => {
    const stored = await source(fill(100, 7), 1000);
    const unit = Uint8Array.from({ length: 300 }, (_, i) => i % 251);
    const raw = deflateRawSync(unit);
    const zlib = deflateSync(unit);
    const packed = await source(Buffer.concat([raw, zlib]));
    const layer = fixedLayer(1000, [
      { kind: 'stored', offset: 0, length: 100, source: stored, at: 1000 },
      { kind: 'compressed', offset: 100, length: 200, source: packed, at: 0, storedLength: raw.length, codec: 'deflate', unitLength: 300, within: 50 },
      { kind: 'compressed', offset: 300, length: 300, source: packed, at: raw.length, storedLength: zlib.length, codec: 'zlib', unitLength: 300, within: 0 },
      { kind: 'zero', offset: 600, length: 100 },
      { kind: 'absent', offset: 700, length: 300 },
    ]);
    const parent = new ChainImage(fixedLayer(1000, [{ kind: 'stored', offset: 0, length: 1000, source: await source(fill(1000, 9)), at: 0 }]));
    const expected = new Uint8Array(1000);
    expected.fill(7, 0, 100);
    expected.set(unit.subarray(50, 250), 100);
    expected.set(unit, 300);
    expected.fill(9, 700);
    assert.deepEqual(await readAll(new ChainImage(layer, parent, readCompressed)), expected);
    expected.fill(0, 700);
    assert.deepEqual(await readAll(new ChainImage(layer, undefined, readCompressed)), expected, 'absent reads as zeros without a parent');
    await rejectsWithCode(readAll(new ChainImage(layer)), 'UNSUPPORTED');
    const piece = new Uint8Array(20);
    await new ChainImage(layer, parent, readCompressed).readAt(piece, 290);
    assert.deepEqual(piece, Uint8Array.from([...unit.subarray(240, 250), ...unit.subarray(0, 10)]));
  });

  it('extents: data for stored and compressed runs, zero, the parent one level deeper, unallocated without one or with own', async () => {
    const layer = fixedLayer(1000, [
      { kind: 'stored', offset: 0, length: 100, source: await source(fill(100, 1)), at: 0 },
      { kind: 'compressed', offset: 100, length: 100, source: await source(fill(10, 1)), at: 0, storedLength: 10, codec: 'deflate', unitLength: 100, within: 0 },
      { kind: 'zero', offset: 200, length: 100 },
      { kind: 'absent', offset: 300, length: 700 },
    ]);
    const parent = new ChainImage(fixedLayer(1000, [{ kind: 'zero', offset: 0, length: 500 }, { kind: 'absent', offset: 500, length: 500 }]));
    assert.deepEqual(await extentsOf(new ChainImage(layer, parent)), [
      { offset: 0, length: 200, kind: 'data', depth: 0 },
      { offset: 200, length: 100, kind: 'zero', depth: 0 },
      { offset: 300, length: 200, kind: 'zero', depth: 1 },
      { offset: 500, length: 500, kind: 'unallocated', depth: 1 },
    ]);
    const alone = [
      { offset: 0, length: 200, kind: 'data', depth: 0 },
      { offset: 200, length: 100, kind: 'zero', depth: 0 },
      { offset: 300, length: 700, kind: 'unallocated', depth: 0 },
    ];
    assert.deepEqual(await extentsOf(new ChainImage(layer)), alone);
    assert.deepEqual(await extentsOf(new ChainImage(layer, parent), true), alone);
  });

  it('a sparse stored run reports the holes of its source as zeros; a plain one is data throughout', async () => {
    const file = await source(fill(65536, 3), 65536, 4 * 65536);
    const run = { kind: 'stored', offset: 0, length: 4 * 65536, source: file, at: 0 } as const;
    assert.deepEqual(await extentsOf(new ChainImage(fixedLayer(4 * 65536, [{ ...run, sparse: true }]))), [
      { offset: 0, length: 65536, kind: 'zero', depth: 0 },
      { offset: 65536, length: 65536, kind: 'data', depth: 0 },
      { offset: 2 * 65536, length: 2 * 65536, kind: 'zero', depth: 0 },
    ]);
    assert.deepEqual(await extentsOf(new ChainImage(fixedLayer(4 * 65536, [run]))), [{ offset: 0, length: 4 * 65536, kind: 'data', depth: 0 }]);
  });

  it('a parent smaller than the child reads, and maps, as zeros past its end', async () => {
    const parent = new ChainImage(fixedLayer(600, [{ kind: 'stored', offset: 0, length: 600, source: await source(fill(600, 5)), at: 0 }]));
    const child = new ChainImage(fixedLayer(1000, [{ kind: 'absent', offset: 0, length: 1000 }]), parent);
    const expected = new Uint8Array(1000).fill(5, 0, 600);
    assert.deepEqual(await readAll(child), expected);
    assert.deepEqual(await extentsOf(child), [
      { offset: 0, length: 600, kind: 'data', depth: 1 },
      { offset: 600, length: 400, kind: 'zero', depth: 1 },
    ]);
  });

  it('a compressed run that does not decompress, or decompresses short, is CORRUPT', async () => {
    const bad = fixedLayer(100, [{ kind: 'compressed', offset: 0, length: 100, source: await source(fill(10, 0xff)), at: 0, storedLength: 10, codec: 'deflate', unitLength: 100, within: 0 }]);
    await rejectsWithCode(readAll(new ChainImage(bad, undefined, readCompressed)), 'CORRUPT');
    const short = deflateRawSync(fill(50, 1));
    const shortLayer = fixedLayer(100, [{ kind: 'compressed', offset: 0, length: 100, source: await source(short), at: 0, storedLength: short.length, codec: 'deflate', unitLength: 100, within: 0 }]);
    await rejectsWithCode(readAll(new ChainImage(shortLayer, undefined, readCompressed)), 'CORRUPT');
  });

  it('reads outside the disk are OUT_OF_RANGE', async () => {
    const image = new ChainImage(fixedLayer(100, [{ kind: 'zero', offset: 0, length: 100 }]));
    await rejectsWithCode(image.readAt(new Uint8Array(2), 99), 'OUT_OF_RANGE');
    await rejectsWithCode(image.readAt(new Uint8Array(1), -1), 'OUT_OF_RANGE');
  });
});

/** A writable layer over one memory file that records the writes it is given (it needs 512-byte units). */
function recordingLayer(file: MemoryFile, size: number): WritableLayer & { writes: [number, number][] } {
  const writes: [number, number][] = [];
  const base = fixedLayer(size, [{ kind: 'stored', offset: 0, length: size, source: file, at: 0 }]);
  return {
    ...base,
    writes,
    writeUnit: 512,
    async writeAt(data, offset) {
      assert.equal(offset % 512, 0);
      assert.ok((offset + data.length) % 512 === 0 || offset + data.length === size);
      writes.push([offset, data.length]);
      await file.write(data, offset);
    },
    async writeZeroes(offset, length) {
      writes.push([offset, -length]);
      await file.write(new Uint8Array(length), offset);
    },
    flush: async () => undefined,
  };
}

describe('WritableChainImage: aligned writes for the layer', () => {
  it('an unaligned write becomes a read-modify-write of whole units', async () => {
    const file = await source(fill(4096, 2));
    const layer = recordingLayer(file, 4096);
    const image = new WritableChainImage(layer);
    await image.writeAt(fill(10, 8), 1020);
    assert.deepEqual(layer.writes, [[512, 1024]]);
    const expected = fill(4096, 2).fill(8, 1020, 1030);
    assert.deepEqual(await readAll(image), expected);
  });

  it('writeZeroes hands whole units to the layer and writes zeros over the partial ones at the ends', async () => {
    const file = await source(fill(4096, 2));
    const layer = recordingLayer(file, 4096);
    const image = new WritableChainImage(layer);
    await image.writeZeroes(100, 2000);
    assert.deepEqual(layer.writes, [
      [0, 512],
      [512, -1536],
      [2048, 512],
    ]);
    assert.deepEqual(await readAll(image), fill(4096, 2).fill(0, 100, 2100));
  });
});

describe('errors carry their context', () => {
  it('a failed read names the layer, the guest offset and the operation', async () => {
    const failing = new MemoryFile('(failing)');
    const layer = fixedLayer(1 << 20, [{ kind: 'stored', offset: 0, length: 1 << 20, source: failing, at: 0 }]);
    const err = await rejectsWithCode(new ChainImage(layer).readAt(new Uint8Array(512), 4096), 'CORRUPT');
    assert.equal(err.path, '(test)', 'the layer the read went to');
    assert.equal(err.operation, 'read');
    assert.equal(err.offset, 4096);
    assert.match(err.describe(), /^\(test\): \(failing\): read of 512 bytes at 4096/);
  });
});
