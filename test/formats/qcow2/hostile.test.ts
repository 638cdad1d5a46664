// Hostile qcow2 input (issue 15): each case is a coded error or a check
// finding, never a crash, a hang or a huge allocation.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { deflateRawSync } from 'node:zlib';
import { openImage } from '../../../src/formats/registry.js';
import { check } from '../../../src/ops/check.js';
import { EXT_BACKING_FORMAT, EXT_BITMAPS } from '../../../src/formats/qcow2/constants.js';
import { rejectsWithCode } from '../../helpers/assert-error.js';
import { QFIELD, buildQcow2, clusterOf, type ClusterContent } from '../../helpers/qcow2.js';
import { tempDir } from '../../helpers/tmp.js';
import { openOrReadFails } from '../../helpers/vmdk.js';
import { rleBomb } from '../../helpers/zstd.js';

const CS = 4096;
const dir = tempDir('vdisk-qcow2-hostile-');

/** Writes `bytes` as `name` in the test directory and returns its path. */
function put(name: string, bytes: Uint8Array): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

/** A 64 KiB image whose guest cluster 0 holds data and cluster 1 is compressed. */
function plain(): ReturnType<typeof buildQcow2> {
  return buildQcow2({ size: 16 * CS, clusters: new Map<number, ClusterContent>([[0, clusterOf(CS, 1)], [1, { deflate: clusterOf(CS, 2) }]]) });
}

test('refcount loops: a refcount table entry pointing at the table itself, a block at itself: check reports, reading is unaffected', async () => {
  const l = plain();
  l.bytes.writeBigUInt64BE(BigInt(l.refcountTable), l.refcountTable + 8);
  l.bytes.writeBigUInt64BE(BigInt(l.refcountBlock), l.refcountTable + 16);
  const path = put('loop.qcow2', l.bytes);
  const report = await check(path);
  assert.equal(report.result, 'corruption');
  assert.ok(report.findings.some((f) => f.code === 'REFCOUNT_MISMATCH'), JSON.stringify(report.findings));
  const image = await openImage(path);
  await image.close();
});

test('an L2 table or a data cluster in the header, unaligned, or past the end is CORRUPT when read, and a check finding', async () => {
  for (const [name, damage] of [
    ['l1-in-header', (l: ReturnType<typeof buildQcow2>) => l.bytes.writeBigUInt64BE((1n << 63n) | 512n, l.l1)],
    ['l1-past-end', (l: ReturnType<typeof buildQcow2>) => l.bytes.writeBigUInt64BE((1n << 63n) | BigInt(1000 * CS), l.l1)],
    ['l2-in-header', (l: ReturnType<typeof buildQcow2>) => l.bytes.writeBigUInt64BE((1n << 63n) | 512n, l.l2.get(0)!)],
    ['l2-unaligned', (l: ReturnType<typeof buildQcow2>) => l.bytes.writeBigUInt64BE((1n << 63n) | BigInt(5 * CS + 512), l.l2.get(0)!)],
    ['l2-past-end', (l: ReturnType<typeof buildQcow2>) => l.bytes.writeBigUInt64BE((1n << 63n) | BigInt(1000 * CS), l.l2.get(0)!)],
    ['compressed-in-header', (l: ReturnType<typeof buildQcow2>) => l.bytes.writeBigUInt64BE(1n << 62n, l.l2.get(0)! + 8)],
  ] as const) {
    const l = plain();
    damage(l);
    const path = put(`${name}.qcow2`, l.bytes);
    await openOrReadFails(path, 'CORRUPT');
    assert.equal((await check(path)).result, 'corruption', name);
  }
});

test('an L2 entry pointing into metadata (the L1 table) is a check finding', async () => {
  const l = plain();
  l.bytes.writeBigUInt64BE((1n << 63n) | BigInt(l.l1), l.l2.get(0)!);
  const report = await check(put('into-l1.qcow2', l.bytes));
  assert.ok(report.findings.some((f) => f.code === 'DATA_IN_METADATA'), JSON.stringify(report.findings));
});

test('a compressed length past the end of the file is CORRUPT', async () => {
  const l = plain();
  const x = BigInt(62 - (12 - 8));
  l.bytes.writeBigUInt64BE((1n << 62n) | (15n << x) | BigInt(l.data.get(1)!), l.l2.get(0)! + 8);
  const err = await openOrReadFails(put('clen.qcow2', l.bytes), 'CORRUPT');
  assert.match(err.message, /past the end/);
});

test('l1_size × 8 past 32 MiB, an L1 too small for the disk, cluster_bits outside 9-21 are refused at open', async () => {
  const big = plain();
  big.bytes.writeUInt32BE(4 * 1024 * 1024 + 1, QFIELD.l1Size);
  assert.match((await rejectsWithCode(openImage(put('l1big.qcow2', big.bytes)), 'CORRUPT')).message, /32 MiB/);
  const small = plain();
  small.bytes.writeBigUInt64BE(BigInt(2 ** 40), QFIELD.size);
  assert.match((await rejectsWithCode(openImage(put('l1small.qcow2', small.bytes)), 'CORRUPT')).message, /too few/);
  for (const bits of [0, 8, 22, 31]) {
    const l = plain();
    l.bytes.writeUInt32BE(bits, QFIELD.clusterBits);
    await rejectsWithCode(openImage(put(`bits${bits}.qcow2`, l.bytes)), 'CORRUPT');
  }
});

test('a snapshot table of 10^6 entries, or one running past the end of the file, is CORRUPT at open without reading it', async () => {
  const l = plain();
  l.bytes.writeUInt32BE(1_000_000, QFIELD.nbSnapshots);
  l.bytes.writeBigUInt64BE(BigInt(CS), QFIELD.snapshotsOffset);
  assert.match((await rejectsWithCode(openImage(put('snaps.qcow2', l.bytes)), 'CORRUPT')).message, /1000000 snapshots/);
  l.bytes.writeUInt32BE(60_000, QFIELD.nbSnapshots);
  l.bytes.writeBigUInt64BE(BigInt(l.bytes.length - CS), QFIELD.snapshotsOffset);
  assert.match((await rejectsWithCode(openImage(put('snaps-end.qcow2', l.bytes)), 'CORRUPT')).message, /past the end/);
});

test('a bitmap directory of too many bitmaps or past the end is a check finding; reading is unaffected', async () => {
  for (const [n, size, offset] of [[70000, 24, 4 * CS], [1, 4096, 1000 * CS]]) {
    const ext = Buffer.alloc(24);
    ext.writeUInt32BE(n, 0);
    ext.writeBigUInt64BE(BigInt(size), 8);
    ext.writeBigUInt64BE(BigInt(offset), 16);
    const path = put(`bitmaps-${n}.qcow2`, buildQcow2({ size: CS, extensions: [[EXT_BITMAPS, ext]] }).bytes);
    const report = await check(path);
    assert.ok(report.findings.some((f) => f.code === 'BITMAP_DIRECTORY'), JSON.stringify(report.findings));
    const image = await openImage(path);
    await image.close();
  }
});

test('an extension length past the header cluster is CORRUPT', async () => {
  const l = buildQcow2({ size: CS, extensions: [[EXT_BACKING_FORMAT, Buffer.from('raw')]] });
  l.bytes.writeUInt32BE(0x7fffffff, 108);
  assert.match((await rejectsWithCode(openImage(put('ext.qcow2', l.bytes)), 'CORRUPT')).message, /past the first cluster/);
});

test('deflate and zstd bombs: a cluster that inflates past its size is CORRUPT, read without a large allocation', async () => {
  const bomb = deflateRawSync(Buffer.alloc(100 * 1024 * 1024));
  assert.ok(bomb.length < 2 * 65536, 'fits in the stored length a 64 KiB cluster allows');
  const l = buildQcow2({ size: 4 * 65536, clusterBits: 16, clusters: new Map<number, ClusterContent>([[0, { deflate: clusterOf(65536, 1) }]]) });
  const at = l.data.get(0)!;
  const bytes = Buffer.concat([l.bytes.subarray(0, at), bomb, Buffer.alloc(65536)]);
  const x = BigInt(62 - (16 - 8));
  bytes.writeBigUInt64BE((1n << 62n) | (BigInt(Math.ceil(bomb.length / 512) - 1) << x) | BigInt(at), l.l2.get(0)!);
  const rss = process.memoryUsage().rss;
  await openOrReadFails(put('deflate-bomb.qcow2', bytes), 'CORRUPT');
  const zstd = Buffer.from(bytes);
  zstd.set(rleBomb(2000), at);
  zstd.writeBigUInt64BE(zstd.readBigUInt64BE(QFIELD.incompatible) | (1n << 3n), QFIELD.incompatible);
  zstd.writeUInt32BE(112, QFIELD.headerLength);
  zstd[104] = 1;
  await openOrReadFails(put('zstd-bomb.qcow2', zstd), 'CORRUPT');
  assert.ok(process.memoryUsage().rss - rss < 128 * 1024 * 1024, 'no allocation near the bombs\' size');
});
