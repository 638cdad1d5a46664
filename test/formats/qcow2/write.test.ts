/**
 * The qcow2 writer: create options, in-place and new-cluster writes, zeros
 * (version 3 zero flag, version 2 dropped clusters), refcount table growth
 * with 512-byte clusters, a partial write into a compressed cluster, exact
 * refcounts after all of it (vdisk's check, which counts every reference as
 * qemu-img check does), refusals, and power cuts at every flush point.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createImage, openImage } from '../../../src/formats/registry.js';
import type { WritableQcow2Layer } from '../../../src/formats/qcow2/writer.js';
import { check } from '../../../src/ops/check.js';
import { compact } from '../../../src/ops/compact.js';
import type { DiskImage, WritableDiskImage } from '../../../src/formats/types.js';
import { rejectsWithCode } from '../../helpers/assert-error.js';
import { withClosing } from '../../helpers/closing.js';
import { Recorder, crashStates, materialise, snapshot } from '../../helpers/fault-file.js';
import { extentsOf, readAll, same, writeBoth } from '../../helpers/images.js';
import { QFIELD, buildQcow2, clusterOf, type ClusterContent } from '../../helpers/qcow2.js';
import { needTools, qemuCheckClean } from '../../helpers/oracles.js';
import { tempDir } from '../../helpers/tmp.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/** The findings of vdisk's check that are not clean. */
async function problems(image: DiskImage): Promise<string[]> {
  return (await image.check()).map((f) => `${f.severity} ${f.code}: ${f.message}`);
}

describe('qcow2 writer', () => {
  it('512-byte clusters over 12 MiB: every cluster written, the refcount table grows, refcounts exact', async () => {
    const path = join(tempDir(), 'small.qcow2');
    const size = 12 * MiB + 1024;
    const model = new Uint8Array(size);
    const image = await createImage(path, 'qcow2', { virtualSize: size, options: { cluster_size: '512' } });
    await writeBoth(image, model, 0, 5 * MiB, 1);
    await writeBoth(image, model, 5 * MiB, size - 5 * MiB, 2);
    await writeBoth(image, model, 777, 3000, 3);
    await image.flush();
    await image.close();
    await withClosing(openImage(path), async (again) => {
      assert.ok(same(await readAll(again), model));
      assert.deepEqual(await problems(again), []);
      assert.ok(readFileSync(path).readUInt32BE(QFIELD.refcountClusters) > 1, 'the refcount table grew past one cluster');
    });
  });

  it('changed L2 tables held in memory stay under pinnedLimit: writes flush them when they pass it', async () => {
    const path = join(tempDir(), 'bounded.qcow2');
    const model = new Uint8Array(4 * MiB);
    const image = await createImage(path, 'qcow2', { virtualSize: 4 * MiB, options: { cluster_size: '512' } });
    const layer = image.layer as WritableQcow2Layer;
    layer.pinnedLimit = 8 * 512;
    let flushed = 0;
    for (let at = 0; at < 4 * MiB; at += 64 * KiB) {
      await writeBoth(image, model, at + 100, 64 * KiB - 200, at / KiB + 1);
      if (layer.clusters.pinned.size === 0) flushed++;
      assert.ok(layer.clusters.pinned.size * 512 <= layer.pinnedLimit, `${layer.clusters.pinned.size} tables held after the write at ${at}`);
    }
    assert.ok(flushed >= 10, `only ${flushed} writes flushed`);
    await image.flush();
    await image.close();
    await withClosing(openImage(path), async (again) => {
      assert.ok(same(await readAll(again), model));
      assert.deepEqual(await problems(again), []);
    });
  });

  it('unaligned writes across a reopen land; in-place writes take no new cluster', async () => {
    const path = join(tempDir(), 'w.qcow2');
    const size = 3 * MiB + 4096;
    const model = new Uint8Array(size);
    let image = await createImage(path, 'qcow2', { virtualSize: size, options: { cluster_size: '4K' } });
    await writeBoth(image, model, 100, 10000, 1);
    await writeBoth(image, model, size - 300, 300, 2);
    await image.flush();
    await image.close();
    const before = readFileSync(path).length;
    image = (await openImage(path, { writable: true })) as WritableDiskImage;
    await writeBoth(image, model, 5000, 100, 3);
    await image.flush();
    assert.equal(readFileSync(path).length, before, 'no new cluster for an in-place write');
    await writeBoth(image, model, MiB + 1, 70000, 4);
    await image.flush();
    await image.close();
    await withClosing(openImage(path), async (again) => {
      assert.ok(same(await readAll(again), model));
      assert.deepEqual(await problems(again), []);
    });
  });

  for (const compat of ['1.1', '0.10']) {
    it(`zeros over data: compat=${compat} ${compat === '1.1' ? 'sets the zero flag' : 'drops the clusters'} and frees them`, async () => {
      const path = join(tempDir(), `z${compat}.qcow2`);
      const model = new Uint8Array(MiB);
      const image = await createImage(path, 'qcow2', { virtualSize: MiB, options: { cluster_size: '64K', compat } });
      await writeBoth(image, model, 0, MiB, 5);
      await image.flush();
      await image.writeZeroes(64 * KiB, 128 * KiB);
      model.fill(0, 64 * KiB, 192 * KiB);
      await image.flush();
      await image.close();
      await withClosing(openImage(path), async (again) => {
        assert.ok(same(await readAll(again), model));
        const zeroed = (await extentsOf(again)).find((e) => e.offset === 64 * KiB)!;
        assert.deepEqual(zeroed, { offset: 64 * KiB, length: 128 * KiB, kind: compat === '1.1' ? 'zero' : 'unallocated', depth: 0 });
        assert.deepEqual(await problems(again), []);
      });
    });
  }

  it('a partial write into a compressed cluster keeps the rest of it and frees the compressed one', async () => {
    const path = join(tempDir(), 'c.qcow2');
    const cs = 4096;
    const old = clusterOf(cs, 0x5a);
    writeFileSync(path, buildQcow2({ size: 8 * cs, clusters: new Map<number, ClusterContent>([[2, { deflate: old }], [3, clusterOf(cs, 7)]]) }).bytes);
    const model = new Uint8Array(8 * cs);
    model.set(old, 2 * cs);
    model.fill(7, 3 * cs, 4 * cs);
    const image = (await openImage(path, { writable: true })) as WritableDiskImage;
    await writeBoth(image, model, 2 * cs + 1000, 100, 9);
    await image.flush();
    await image.close();
    await withClosing(openImage(path), async (again) => {
      assert.ok(same(await readAll(again), model));
      assert.deepEqual(await problems(again), []);
    });
  });

  it('extended_l2 and lazy_refcounts: whole clusters written, the dirty bit only while writing', async () => {
    const path = join(tempDir(), 'x.qcow2');
    const model = new Uint8Array(2 * MiB);
    const image = await createImage(path, 'qcow2', { virtualSize: 2 * MiB, options: { cluster_size: '64K', extended_l2: 'on', lazy_refcounts: 'on' } });
    await writeBoth(image, model, 1000, 70000, 1);
    const dirty = readFileSync(path).readBigUInt64BE(QFIELD.incompatible);
    assert.equal(dirty & 1n, 1n, 'dirty while writing');
    await image.writeZeroes(MiB, 128 * KiB);
    await image.flush();
    await image.close();
    assert.equal(readFileSync(path).readBigUInt64BE(QFIELD.incompatible) & 1n, 0n, 'clean after flush');
    await withClosing(openImage(path), async (again) => {
      assert.ok(same(await readAll(again), model));
      assert.equal(again.describe().formatSpecific!.extendedL2, true);
      assert.equal(again.describe().formatSpecific!.lazyRefcounts, true);
      assert.deepEqual(await problems(again), []);
    });
  });

  it('preallocation=metadata maps every cluster; full allocates the file', async () => {
    for (const preallocation of ['metadata', 'full']) {
      const path = join(tempDir(), `p-${preallocation}.qcow2`);
      const image = await createImage(path, 'qcow2', { virtualSize: 4 * MiB, options: { preallocation } });
      await image.close();
      await withClosing(openImage(path), async (again) => {
        assert.deepEqual(await extentsOf(again), [{ offset: 0, length: 4 * MiB, kind: 'data', depth: 0 }]);
        assert.ok((await readAll(again)).every((b) => b === 0));
        assert.deepEqual(await problems(again), []);
      });
    }
  });

  it('compression_type=zstd: the header says so (compression type field, incompatible bit 3), and writes go in uncompressed', async () => {
    const path = join(tempDir(), 'zstd.qcow2');
    const image = await createImage(path, 'qcow2', { virtualSize: 4 * MiB, options: { compression_type: 'zstd' } });
    await image.writeAt(new Uint8Array(64 * 1024).fill(0x21), MiB);
    await image.flush();
    await image.close();
    await withClosing(openImage(path), async (again) => {
      assert.equal(again.describe().formatSpecific?.compressionType, 'zstd');
      assert.match(String(again.describe().formatSpecific?.incompatibleFeatures), /compression type/);
      assert.deepEqual(await problems(again), []);
      const data = await readAll(again);
      assert.ok(data.subarray(MiB, MiB + 64 * 1024).every((b) => b === 0x21));
    });
  });

  it('refuses bad options and images it will not write', async () => {
    const dir = tempDir();
    const make = (options: Record<string, string>) => createImage(join(dir, `${Object.values(options).join('-')}.qcow2`), 'qcow2', { virtualSize: MiB, options });
    await rejectsWithCode(make({ cluster_size: '256' }), 'USAGE');
    await rejectsWithCode(make({ cluster_size: '4M' }), 'USAGE');
    await rejectsWithCode(make({ compat: '0.10', lazy_refcounts: 'on' }), 'USAGE');
    await rejectsWithCode(make({ extended_l2: 'on', cluster_size: '4K' }), 'USAGE');
    await rejectsWithCode(make({ compression_type: 'lz4' }), 'USAGE');
    await rejectsWithCode(make({ compat: '0.10', compression_type: 'zstd' }), 'USAGE');
    await rejectsWithCode(make({ compressed: 'on' }), 'USAGE');
    await rejectsWithCode(make({ preallocation: 'falloc' }), 'USAGE');
    for (const [bit, name] of [[1n, 'dirty'], [2n, 'corrupt']] as const) {
      const path = join(dir, `${name}.qcow2`);
      writeFileSync(path, buildQcow2({ size: MiB, incompatible: bit }).bytes);
      await rejectsWithCode(openImage(path, { writable: true }), 'UNSUPPORTED');
      await (await openImage(path)).close();
    }
  });

  it('a power cut at any point of a flush leaves an image with the old or the new data, and leaks at worst', async () => {
    const dir = tempDir();
    const path = join(dir, 'cut.qcow2');
    const size = 4 * MiB;
    const model = new Uint8Array(size);
    const image = await createImage(path, 'qcow2', { virtualSize: size, options: { cluster_size: '512' } });
    await writeBoth(image, model, 0, 64 * KiB, 1);
    await image.flush();
    await image.close();
    const old = Buffer.from(model);
    const initial = snapshot([path]);
    const rec = new Recorder();
    const w = (await openImage(path, { writable: true, openFile: rec.opener })) as WritableDiskImage;
    await writeBoth(w, model, 1000, 9 * MiB / 4, 2);
    await w.writeZeroes(0, 512);
    model.fill(0, 0, 512);
    await w.flush();
    await w.close();
    let n = 0;
    for (const state of crashStates(initial, rec.events)) {
      const at = (await materialise(state, join(dir, `state${n++}`))).get(path)!;
      await withClosing(openImage(at), async (again) => {
        const view = Buffer.from(await readAll(again));
        for (let c = 0; c < size; c += 512) {
          const got = view.subarray(c, c + 512);
          assert.ok(got.equals(old.subarray(c, c + 512)) || got.equals(Buffer.from(model.subarray(c, c + 512))), `${state.description}: sector ${c / 512} is neither old nor new`);
        }
        const bad = (await again.check()).filter((f) => f.severity === 'corruption');
        assert.deepEqual(bad, [], state.description);
      });
    }
    assert.ok(n >= 4, `only ${n} crash states`);
  });
});

describe('qcow2 compact', () => {
  it('turns all-zero clusters into zero clusters and punches their space out; the view and refcounts stay right', async () => {
    const path = join(tempDir(), 'compact.qcow2');
    const model = new Uint8Array(2 * MiB);
    const image = await createImage(path, 'qcow2', { virtualSize: 2 * MiB, options: { cluster_size: '64K' } });
    await writeBoth(image, model, 0, 2 * MiB, 3);
    await image.writeAt(new Uint8Array(256 * KiB), 512 * KiB);
    model.fill(0, 512 * KiB, 768 * KiB);
    await image.flush();
    await image.close();
    const r = await compact(path, {});
    assert.equal(r.blocksDropped, 4);
    assert.ok(r.allocatedAfter < r.allocatedBefore, 'space given back');
    await withClosing(openImage(path), async (again) => {
      assert.ok(same(await readAll(again), model));
      assert.deepEqual((await extentsOf(again)).find((e) => e.offset === 512 * KiB), { offset: 512 * KiB, length: 256 * KiB, kind: 'zero', depth: 0 });
      assert.deepEqual(await problems(again), []);
    });
    assert.equal((await compact(path, {})).blocksDropped, 0);
  });
});

describe('qcow2 check --repair', () => {
  it('rebuilds refcounts that leak or are too low and clears the dirty bit; the view stays; damaged tables are refused', async (t) => {
    const dir = tempDir();
    const path = join(dir, 'r.qcow2');
    const model = new Uint8Array(2 * MiB);
    const image = await createImage(path, 'qcow2', { virtualSize: 2 * MiB, options: { cluster_size: '4K', lazy_refcounts: 'on' } });
    await writeBoth(image, model, 0, MiB, 4);
    await image.flush();
    await image.close();
    const bytes = readFileSync(path);
    const block = Number(bytes.readBigUInt64BE(Number(bytes.readBigUInt64BE(QFIELD.refcountTable))));
    bytes.writeUInt16BE(0, block + 2 * 10);
    bytes.writeUInt16BE(3, block + 2 * 11);
    bytes.writeBigUInt64BE(1n, QFIELD.incompatible);
    writeFileSync(path, bytes);
    const before = await check(path);
    assert.equal(before.result, 'corruption');
    await rejectsWithCode(openImage(path, { writable: true }), 'UNSUPPORTED');
    const fixed = await check(path, { repair: true });
    assert.equal(fixed.result, 'clean', JSON.stringify(fixed.findings));
    assert.match(fixed.repaired.join('|'), /1 leaked cluster\(s\) freed, 1 refcount\(s\) raised.*\|cleared the dirty bit/);
    await withClosing(openImage(path), async (again) => assert.ok(same(await readAll(again), model)));
    await (await openImage(path, { writable: true })).close();
    assert.deepEqual((await check(path, { repair: true })).repaired, [], 'nothing left to repair');
    if (needTools(t, 'qemu-img')) qemuCheckClean(path, 'qcow2');
    const damaged = join(dir, 'd.qcow2');
    const layout = buildQcow2({ size: 8 * 4096, clusters: new Map([[1, clusterOf(4096, 1)]]) });
    layout.bytes.writeBigUInt64BE((1n << 63n) | BigInt(layout.l1), layout.l2.get(0)! + 8);
    writeFileSync(damaged, layout.bytes);
    const refused = await check(damaged, { repair: true });
    assert.equal(refused.result, 'corruption');
    assert.match(refused.findings.map((f) => f.message).join('|'), /rebuilds qcow2 refcounts only, and this image's tables are damaged/);
    assert.deepEqual(readFileSync(damaged), layout.bytes, 'a refused repair changes nothing');
  });
});
