// Scripted qcow2 images (test/helpers/qcow2.ts) read through openImage: every
// kind of cluster, a backing file of another format, a smaller backing file,
// an external data file, the dirty and corrupt bits, snapshots refused for
// formats without them, and writing refused.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { EXT_BACKING_FORMAT, EXT_DATA_FILE } from '../../../src/formats/qcow2/constants.js';
import { openImage } from '../../../src/formats/registry.js';
import { rejectsWithCode } from '../../helpers/assert-error.js';
import { readAll } from '../../helpers/images.js';
import { buildQcow2, clusterOf, type ClusterContent } from '../../helpers/qcow2.js';
import { startHttpServer } from '../../helpers/http-server.js';
import { tempDir } from '../../helpers/tmp.js';

const CS = 4096;

test('data, zero, compressed and unallocated clusters read as they should, and map says which is which', async () => {
  const dir = tempDir('vdisk-qcow2-read-');
  const path = join(dir, 'a.qcow2');
  writeFileSync(path, buildQcow2({ size: 1000 * CS, clusters: new Map<number, ClusterContent>([[0, clusterOf(CS, 1)], [1, 'zero'], [2, { deflate: clusterOf(CS, 3) }], [600, clusterOf(CS, 4)]]) }).bytes);
  const image = await openImage(path);
  try {
    assert.equal(image.format, 'qcow2');
    const all = await readAll(image);
    assert.ok(all.subarray(0, CS).every((b) => b === 1));
    assert.ok(all.subarray(CS, 2 * CS).every((b) => b === 0));
    assert.ok(all.subarray(2 * CS, 3 * CS).every((b) => b === 3));
    assert.ok(all.subarray(600 * CS, 601 * CS).every((b) => b === 4));
    assert.ok(all.subarray(3 * CS, 600 * CS).every((b) => b === 0));
    const kinds = [];
    for await (const e of image.extents()) kinds.push([e.offset / CS, e.length / CS, e.kind]);
    assert.deepEqual(kinds, [[0, 1, 'data'], [1, 1, 'zero'], [2, 1, 'data'], [3, 597, 'unallocated'], [600, 1, 'data'], [601, 399, 'unallocated']]);
    assert.deepEqual(await image.check(), []);
  } finally {
    await image.close();
  }
});

test('a raw backing file smaller than the image: unallocated clusters read from it, past its end as zeros', async () => {
  const dir = tempDir('vdisk-qcow2-backing-');
  writeFileSync(join(dir, 'base.raw'), Buffer.alloc(3 * CS, 0x42));
  const path = join(dir, 'child.qcow2');
  writeFileSync(path, buildQcow2({ size: 8 * CS, backing: 'base.raw', extensions: [[EXT_BACKING_FORMAT, Buffer.from('raw')]], clusters: new Map<number, ClusterContent>([[1, clusterOf(CS, 7)], [2, 'zero']]) }).bytes);
  const image = await openImage(path);
  try {
    assert.equal(image.parent?.format, 'raw');
    const all = await readAll(image);
    assert.deepEqual([0, 1, 2, 3, 7].map((c) => all[c * CS]), [0x42, 7, 0, 0, 0]);
    assert.equal(image.describe().formatSpecific?.backingFormat, 'raw');
  } finally {
    await image.close();
  }
});

test('over HTTP: the backing file and the external data file come from the same server', async () => {
  const dir = tempDir('vdisk-qcow2-http-');
  writeFileSync(join(dir, 'base.raw'), Buffer.alloc(4 * CS, 0x42));
  writeFileSync(join(dir, 'child.qcow2'), buildQcow2({ size: 4 * CS, backing: 'base.raw', clusters: new Map<number, ClusterContent>([[1, clusterOf(CS, 7)]]) }).bytes);
  const data = Buffer.alloc(4 * CS);
  data.fill(9, 0, CS);
  writeFileSync(join(dir, 'd.raw'), data);
  const l = buildQcow2({ size: 4 * CS, incompatible: 1n << 2n, extensions: [[EXT_DATA_FILE, Buffer.from('d.raw')]] });
  // One L2 table after the image, whose entry 0 is host offset 0 in the data file (bit 63 set).
  const bytes = Buffer.concat([l.bytes, Buffer.alloc(CS)]);
  bytes.writeBigUInt64BE(BigInt(4 * CS), l.l1);
  bytes.writeBigUInt64BE(1n << 63n, 4 * CS);
  bytes.writeUInt16BE(1, l.refcountBlock + 8);
  writeFileSync(join(dir, 'd.qcow2'), bytes);
  const server = await startHttpServer(dir);
  try {
    const child = await openImage(`${server.url}child.qcow2`);
    try {
      assert.equal(child.parent?.path, `${server.url}base.raw`);
      const all = await readAll(child);
      assert.deepEqual([all[0], all[CS], all[3 * CS]], [0x42, 7, 0x42]);
    } finally {
      await child.close();
    }
    const withData = await openImage(`${server.url}d.qcow2`);
    try {
      const all = await readAll(withData);
      assert.deepEqual([all[0], all[CS]], [9, 0]);
    } finally {
      await withData.close();
    }
  } finally {
    await server.close();
  }
});

test('a backing file of another format than the extension names, and a backing name loop, are PARENT errors', async () => {
  const dir = tempDir('vdisk-qcow2-loop-');
  writeFileSync(join(dir, 'base.raw'), Buffer.alloc(CS));
  writeFileSync(join(dir, 'c.qcow2'), buildQcow2({ size: CS, backing: 'base.raw', extensions: [[EXT_BACKING_FORMAT, Buffer.from('vmdk')]] }).bytes);
  await rejectsWithCode(openImage(join(dir, 'c.qcow2')), 'PARENT');
  writeFileSync(join(dir, 'a.qcow2'), buildQcow2({ size: CS, backing: 'b.qcow2' }).bytes);
  writeFileSync(join(dir, 'b.qcow2'), buildQcow2({ size: CS, backing: 'a.qcow2' }).bytes);
  assert.match((await rejectsWithCode(openImage(join(dir, 'a.qcow2')), 'PARENT')).message, /loop/);
  writeFileSync(join(dir, 'self.qcow2'), buildQcow2({ size: CS, backing: 'self.qcow2' }).bytes);
  assert.match((await rejectsWithCode(openImage(join(dir, 'self.qcow2')), 'PARENT')).message, /loop/);
});

test('an external data file is read beside the image; one outside its directory or unnamed is refused', async () => {
  const dir = tempDir('vdisk-qcow2-datafile-');
  const data = Buffer.alloc(8 * CS);
  data.fill(9, 2 * CS, 3 * CS);
  writeFileSync(join(dir, 'd.raw'), data);
  const l = buildQcow2({ size: 8 * CS, incompatible: 1n << 2n, extensions: [[EXT_DATA_FILE, Buffer.from('d.raw')]], clusters: new Map<number, ClusterContent>([[2, clusterOf(CS, 0)]]) });
  // With a data file the host offset is the guest offset ("External data file bit").
  l.bytes.writeBigUInt64BE((1n << 63n) | BigInt(2 * CS), l.l2.get(0)! + 16);
  writeFileSync(join(dir, 'd.qcow2'), l.bytes);
  const image = await openImage(join(dir, 'd.qcow2'));
  try {
    const all = await readAll(image);
    assert.ok(all.subarray(2 * CS, 3 * CS).every((b) => b === 9));
    assert.deepEqual(image.layer.files(), [join(dir, 'd.qcow2'), join(dir, 'd.raw')]);
  } finally {
    await image.close();
  }
  writeFileSync(join(dir, 'out.qcow2'), buildQcow2({ size: CS, incompatible: 1n << 2n, extensions: [[EXT_DATA_FILE, Buffer.from('../etc/passwd')]] }).bytes);
  await rejectsWithCode(openImage(join(dir, 'out.qcow2')), 'CORRUPT');
  writeFileSync(join(dir, 'unnamed.qcow2'), buildQcow2({ size: CS, incompatible: 1n << 2n }).bytes);
  await rejectsWithCode(openImage(join(dir, 'unnamed.qcow2')), 'UNSUPPORTED');
});

test('the dirty and corrupt bits open with warnings and refuse writing (UNSUPPORTED); -l on a raw image is USAGE', async () => {
  const dir = tempDir('vdisk-qcow2-flags-');
  const path = join(dir, 'f.qcow2');
  writeFileSync(path, buildQcow2({ size: CS, incompatible: 0b11n }).bytes);
  const warnings: string[] = [];
  const image = await openImage(path, { onWarning: (w) => warnings.push(w) });
  await image.close();
  assert.ok(warnings.some((w) => /dirty bit/.test(w)) && warnings.some((w) => /corrupt bit/.test(w)), warnings.join('|'));
  await rejectsWithCode(openImage(path, { writable: true }), 'UNSUPPORTED');
  writeFileSync(join(dir, 'r.raw'), Buffer.alloc(CS));
  await rejectsWithCode(openImage(join(dir, 'r.raw'), { snapshot: '1' }), 'USAGE');
  await rejectsWithCode(openImage(path, { snapshot: 'none' }), 'USAGE');
});
