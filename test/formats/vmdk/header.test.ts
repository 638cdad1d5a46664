/** The sparse extent header ("Hosted Sparse Extent Header") and the grain directory reader ("Grain Directories and Grain Tables"). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ByteSource } from '../../../src/io/byte-source.js';
import { GrainCaches, GrainDirectory, littleEndianU32s } from '../../../src/formats/vmdk/grain-directory.js';
import { gdEntries, hasSparseMagic, parseSparseHeader } from '../../../src/formats/vmdk/header.js';
import { rejectsWithCode, throwsWithCode } from '../../helpers/assert-error.js';
import { FIELD, buildSparseVmdk, grainOf } from '../../helpers/vmdk.js';

function header(patch?: (b: Buffer) => void): Buffer {
  const b = Buffer.from(buildSparseVmdk({ capacity: 8192, redundant: true, grains: new Map([[0, grainOf(4096, 1)]]) }).bytes.subarray(0, 512));
  patch?.(b);
  return b;
}

describe('parseSparseHeader', () => {
  it('reads every field', () => {
    const h = parseSparseHeader(header());
    assert.equal(hasSparseMagic(header()), true);
    assert.deepEqual(
      { ...h },
      { headerBytes: 512, version: 1, flags: 7, capacity: 8192, grainSize: 8, descriptorOffset: 1, descriptorSize: 20, numGTEsPerGT: 512, rgdOffset: 21, gdOffset: 30, overHead: 39, uncleanShutdown: false, compressed: false, newlinesIntact: true },
    );
    assert.equal(gdEntries(h), 2);
  });

  it('GD_AT_END leaves gdOffset to the footer; a cleared redundant flag hides rgdOffset', () => {
    const h = parseSparseHeader(header((b) => {
      b.writeBigUInt64LE(0xffffffffffffffffn, FIELD.gdOffset);
      b.writeUInt32LE(1, FIELD.flags);
    }));
    assert.equal(h.gdOffset, undefined);
    assert.equal(h.rgdOffset, 0);
  });

  it('notices newline characters altered by a text-mode copy', () => {
    assert.equal(parseSparseHeader(header((b) => b.write('\r\n\r\n', 73, 'latin1'))).newlinesIntact, false);
  });

  it('refuses bad magic, versions, grain sizes, table sizes and compression', () => {
    throwsWithCode(() => parseSparseHeader(header((b) => b.write('KDMW', 0, 'latin1'))), 'INVALID_FORMAT');
    throwsWithCode(() => parseSparseHeader(header((b) => b.writeUInt32LE(0, FIELD.version))), 'UNSUPPORTED');
    throwsWithCode(() => parseSparseHeader(header((b) => b.writeBigUInt64LE(65536n, FIELD.grainSize))), 'CORRUPT');
    throwsWithCode(() => parseSparseHeader(header((b) => b.writeUInt32LE(4097, FIELD.numGTEsPerGT))), 'CORRUPT');
    throwsWithCode(() => parseSparseHeader(header((b) => b.writeBigUInt64LE(2n ** 63n, FIELD.capacity))), 'CORRUPT');
    throwsWithCode(() => parseSparseHeader(header((b) => {
      b.writeUInt32LE(1 << 16, FIELD.flags);
      b.writeUInt16LE(2, 77);
    })), 'UNSUPPORTED');
  });
});

/** A source of `size` bytes that reads as `fill` (u32 values), recording the size of every read. */
function fakeSource(size: number, fill: number): ByteSource & { reads: number[] } {
  const reads: number[] = [];
  return {
    path: '(fake)',
    size,
    reads,
    async read(buf) {
      reads.push(buf.length);
      const view = new DataView(buf.buffer, buf.byteOffset, buf.length);
      for (let i = 0; i + 4 <= buf.length; i += 4) view.setUint32(i, fill, true);
    },
    async close() {},
  };
}

describe('GrainDirectory', () => {
  it('reads a huge directory in 4 KiB pieces and one table at a time', async () => {
    const src = fakeSource(2 ** 40, 16);
    const gd = new GrainDirectory(src, 1, 2 ** 26, 512, 'grain directory', 512);
    assert.equal((await gd.table(2 ** 21))![0], 16);
    assert.deepEqual(src.reads, [4096, 2048]);
  });

  it('refuses a directory that is not in the file, and a table pointer past the end', async () => {
    throwsWithCode(() => new GrainDirectory(fakeSource(4096, 0), 0, 1, 512, 'grain directory', 512), 'CORRUPT');
    throwsWithCode(() => new GrainDirectory(fakeSource(4096, 0), 1, 2048, 512, 'grain directory', 512), 'CORRUPT');
    const gd = new GrainDirectory(fakeSource(4096, 7), 1, 1, 512, 'grain directory', 512);
    await rejectsWithCode(gd.table(0), 'CORRUPT');
  });

  it('a directory entry of 0 is a table of unallocated grains', async () => {
    const gd = new GrainDirectory(fakeSource(4096, 0), 1, 4, 512, 'grain directory', 512);
    assert.equal(await gd.table(3), undefined);
  });

  it('directories sharing one GrainCaches keep their own tables, and 1024 tables in all', async () => {
    const caches = new GrainCaches();
    const a = fakeSource(2 ** 40, 16);
    const b = fakeSource(2 ** 40, 32);
    const first = new GrainDirectory(a, 1, 2048, 512, 'grain directory', 512, caches);
    const second = new GrainDirectory(b, 1, 2048, 512, 'grain directory', 512, caches);
    assert.equal((await first.table(0))![0], 16);
    assert.equal((await second.table(0))![0], 32, 'the same index in another directory is its own table');
    const tablesRead = (src: { reads: number[] }): number => src.reads.filter((n) => n === 2048).length;
    await first.table(0);
    assert.equal(tablesRead(a), 1, 'cached');
    for (let g = 1; g < 1024; g++) await second.table(g);
    await first.table(0);
    assert.equal(tablesRead(a), 2, "the other directory's tables filled the shared cache, so this one was read again");
  });

  it('decodes little-endian entries', () => {
    assert.deepEqual([...littleEndianU32s(new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0x80]))], [1, 0x80000000]);
  });
});
