/**
 * The VHDX writer, part 2: differencing disks. Sector bitmap bits (LSB
 * first, one per logical sector) match what was written; headers get the next
 * sequence number and a new FileWriteGuid on any change, a new DataWriteGuid
 * only on data changes (not on re-linking); `vdisk commit` keeps the child
 * linked to the base's new DataWriteGuid.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { openImage } from '../../../src/formats/registry.js';
import type { Extent, WritableDiskImage } from '../../../src/formats/types.js';
import { batGeometry, bitmapEntryIndex, payloadEntryIndex } from '../../../src/formats/vhdx/bat-geometry.js';
import { PayloadState } from '../../../src/formats/vhdx/constants.js';
import { snapshot } from '../../../src/ops/snapshot.js';
import { fillPattern } from '../../helpers/pattern-disk.js';
import { formatGuidBraced } from '../../../src/util/guid.js';
import { rejectsWithCode } from '../../helpers/assert-error.js';
import { viewOf } from '../../helpers/chain.js';
import { vdisk } from '../../helpers/cli.js';
import { extentsOf, readAll, same } from '../../helpers/images.js';
import { tempDir } from '../../helpers/tmp.js';
import { openWithWarnings } from '../../helpers/vhd.js';
import { MiB, batEntry, createPatternVhdx, headerFields, readBytes, setBatEntry } from '../../helpers/vhdx.js';

/** What describe() says of a VHDX layer's header and locator. */
interface LayerInfo {
  seq: bigint;
  dataWriteGuid: string;
  fileWriteGuid: string;
  locator?: Record<string, string>;
}

async function layerInfo(path: string, options: { ignoreParentUuid?: boolean } = {}): Promise<LayerInfo> {
  const image = await openImage(path, options);
  try {
    const fs = image.describe().formatSpecific!;
    return { seq: BigInt(fs.headerSequenceNumber as string), dataWriteGuid: fs.dataWriteGuid as string, fileWriteGuid: fs.fileWriteGuid as string, locator: fs.parentLocator as Record<string, string> | undefined };
  } finally {
    await image.close();
  }
}

/** Opens `path` for writing, runs fn, flushes and closes. */
async function withWritable(path: string, fn: (w: WritableDiskImage) => Promise<void>): Promise<void> {
  const w = (await openImage(path, { writable: true })) as WritableDiskImage;
  try {
    await fn(w);
    await w.flush();
  } finally {
    await w.close();
  }
}

/** Writes pattern data (seed) at each [offset, length) of `path` and into `model`. */
async function writeModel(path: string, model: Uint8Array, writes: [number, number][], seed: number): Promise<void> {
  await withWritable(path, async (w) => {
    for (const [o, l] of writes) {
      const data = new Uint8Array(l);
      fillPattern(data, o, seed);
      await w.writeAt(data, o);
      model.set(data, o);
    }
  });
}

/** A base with pattern data in every block and a snapshot child of it, in a fresh directory. */
async function baseAndChild(size: number, options: Record<string, string> = {}): Promise<{ dir: string; base: string; child: string; model: Uint8Array }> {
  const dir = tempDir();
  const base = join(dir, 'base.vhdx');
  const child = join(dir, 'child.vhdx');
  const blocks = Array.from({ length: Math.ceil(size / MiB) }, (_, i) => i);
  const { model } = await createPatternVhdx(base, { size, blockSize: MiB, blocks, options });
  await snapshot(base, child);
  return { dir, base, child, model };
}

describe('differencing VHDX: sector bitmaps', () => {
  for (const logical of [512, 4096]) {
    it(`${logical}-byte sectors: bits are set LSB first for exactly the sectors written`, async () => {
      const size = 5 * MiB;
      const { child, model } = await baseAndChild(size, { logical_sector_size: String(logical) });
      const writes: [number, number][] = [[100, 10], [logical * 3, 1024], [MiB - 512, 1024], [2 * MiB + 4096 * 3 + 1, 4096], [4 * MiB - 4096, 4096]];
      /** Sectors covered by the writes (an unaligned write covers the sectors it touches). */
      const sectors = new Set<number>();
      for (const [o, l] of writes) for (let s = Math.floor(o / logical); s < Math.ceil((o + l) / logical); s++) sectors.add(s);
      await writeModel(child, model, writes, 0x77);

      const g = batGeometry(size, MiB, logical, true);
      const bitmap = batEntry(child, bitmapEntryIndex(g, 0));
      assert.equal(bitmap.state, 6, 'the chunk has a sector bitmap block');
      const perBlock = MiB / logical / 8;
      const spb = MiB / logical;
      for (let b = 0; b < 5; b++) {
        const entry = batEntry(child, payloadEntryIndex(g, b));
        const want = new Uint8Array(perBlock);
        for (let s = b * spb; s < (b + 1) * spb; s++) if (sectors.has(s)) want[(s - b * spb) >> 3]! |= 1 << ((s - b * spb) & 7);
        if (want.every((x) => x === 0)) {
          assert.equal(entry.state, PayloadState.notPresent, `block ${b} holds nothing`);
          continue;
        }
        assert.equal(entry.state, PayloadState.partiallyPresent, `block ${b}`);
        const got = readBytes(child, bitmap.mb * MiB + b * perBlock, perBlock);
        assert.deepEqual(Buffer.from(got).toString('hex'), Buffer.from(want).toString('hex'), `bitmap of block ${b}`);
      }

      const image = await openImage(child);
      try {
        assert.ok(same(await readAll(image), model), 'the child view: its sectors over the parent');
        const own = await extentsOf(image, true);
        const runs: Extent[] = [];
        for (const s of [...sectors].sort((a, b) => a - b)) {
          const last = runs[runs.length - 1];
          if (last && last.offset + last.length === s * logical) last.length += logical;
          else runs.push({ offset: s * logical, length: logical, kind: 'data', depth: 0 });
        }
        assert.deepEqual(own.filter((e) => e.kind === 'data'), runs, 'own data extents are the written sectors');
        assert.ok(own.filter((e) => e.kind !== 'data').every((e) => e.kind === 'unallocated' && e.depth === 0));
        const all = await extentsOf(image);
        assert.deepEqual(all.filter((e) => e.depth === 0), runs, 'through the chain: depth 0 for the child');
        assert.ok(all.filter((e) => e.depth !== 0).every((e) => e.depth === 1 && e.kind === 'data'), 'depth 1 (the base) elsewhere');
      } finally {
        await image.close();
      }
    });
  }

  it('writeZeroes in a child stores zeros over the parent data (explicit zeros)', async () => {
    const { child, model } = await baseAndChild(3 * MiB);
    await withWritable(child, async (w) => {
      await w.writeZeroes(MiB - 4096, 8192);
      await w.writeZeroes(2 * MiB + 100, 1000);
    });
    model.fill(0, MiB - 4096, MiB + 4096);
    model.fill(0, 2 * MiB + 100, 2 * MiB + 1100);
    const image = await openImage(child);
    try {
      assert.ok(same(await readAll(image), model));
      assert.deepEqual((await extentsOf(image, true)).filter((e) => e.kind === 'data'), [
        { offset: MiB - 4096, length: 8192, kind: 'data', depth: 0 },
        { offset: 2 * MiB, length: 1536, kind: 'data', depth: 0 },
      ]);
    } finally {
      await image.close();
    }
  });
});

describe('VHDX headers: sequence numbers, FileWriteGuid and DataWriteGuid', () => {
  it('an open for writing that changes nothing leaves the headers alone', async () => {
    const { base } = await baseAndChild(2 * MiB);
    const before = await layerInfo(base);
    await withWritable(base, async () => undefined);
    assert.deepEqual(await layerInfo(base), before);
  });

  it('a data write: next sequence number (once per open) into the other slot, new FileWriteGuid and DataWriteGuid', async () => {
    const { base } = await baseAndChild(2 * MiB);
    const before = await layerInfo(base);
    const slots = [headerFields(base, 0)!, headerFields(base, 1)!];
    const current = slots[0].sequenceNumber > slots[1].sequenceNumber ? 0 : 1;
    await withWritable(base, async (w) => {
      await w.writeAt(new Uint8Array(512).fill(1), 0);
      await w.writeAt(new Uint8Array(512).fill(2), MiB);
      await w.flush();
      await w.writeAt(new Uint8Array(512).fill(3), 4096);
    });
    const after = await layerInfo(base);
    assert.equal(after.seq, before.seq + 1n);
    assert.notEqual(after.dataWriteGuid, before.dataWriteGuid);
    assert.notEqual(after.fileWriteGuid, before.fileWriteGuid);
    assert.equal(headerFields(base, 1 - current)!.sequenceNumber, after.seq, 'the new header went to the non-current slot');
    assert.equal(headerFields(base, current)!.sequenceNumber, before.seq, 'the old one is kept intact');
  });

  it('re-linking a child (acceptParentIdentity, setParent) is metadata only: new FileWriteGuid, same DataWriteGuid', async () => {
    const { base, child, model } = await baseAndChild(2 * MiB);
    const before = await layerInfo(child);
    const baseGuid = (await layerInfo(base)).dataWriteGuid;
    assert.equal(before.locator!.parent_linkage, `{${baseGuid}}`);
    const upcoming = new Uint8Array(randomBytes(16));
    await withWritable(child, (w) => w.acceptParentIdentity!(upcoming));
    const accepted = await layerInfo(child);
    assert.equal(accepted.seq, before.seq + 1n);
    assert.notEqual(accepted.fileWriteGuid, before.fileWriteGuid);
    assert.equal(accepted.dataWriteGuid, before.dataWriteGuid);
    // The upcoming GUID is the primary linkage (what libvhdi reads), the base's current one the alternate.
    assert.equal(accepted.locator!.parent_linkage, formatGuidBraced(upcoming));
    assert.equal(accepted.locator!.parent_linkage2, `{${baseGuid}}`);
    assert.ok(same(await viewOf(child), model), 'still linked to the unchanged base, through parent_linkage2');

    await withWritable(child, async (w) => w.setParent!(w.parent!));
    const relinked = await layerInfo(child);
    assert.equal(relinked.dataWriteGuid, before.dataWriteGuid);
    assert.equal(relinked.seq, before.seq + 2n);
    assert.equal(relinked.locator!.parent_linkage, `{${baseGuid}}`);
    assert.equal(relinked.locator!.parent_linkage2, undefined, 'setParent drops the alternate linkage');
  });

  it("a grandchild stays linked through its parent's re-link, and is refused once its parent's data changes", async () => {
    const { dir, child, model } = await baseAndChild(2 * MiB);
    const grandchild = join(dir, 'grandchild.vhdx');
    await snapshot(child, grandchild);
    await withWritable(child, async (w) => w.setParent!(w.parent!));
    assert.ok(same(await viewOf(grandchild), model), 'linked after the metadata-only change');
    await withWritable(child, (w) => w.writeAt(new Uint8Array(4096).fill(9), 0));
    const childGuid = (await layerInfo(child)).dataWriteGuid;
    const err = await rejectsWithCode(openImage(grandchild), 'PARENT');
    assert.match(err.message, /DataWriteGuid/);
    assert.ok(err.message.includes(childGuid), `names the DataWriteGuid found: ${err.message}`);
    const { image, warnings } = await openWithWarnings(grandchild, { ignoreParentUuid: true });
    await image.close();
    assert.equal(warnings.length, 1);
  });
});

describe('commit keeps the child linked', () => {
  it('vdisk commit CHILD: the base gets a new DataWriteGuid and the child records it as parent_linkage', async () => {
    const { base, child, model } = await baseAndChild(3 * MiB);
    await writeModel(child, model, [[4096, 8192], [MiB + 100, MiB], [3 * MiB - 512, 512]], 0x31);
    const before = await layerInfo(base);
    for (let run = 0; run < 2; run++) {
      const r = vdisk('commit', child);
      assert.equal(r.status, 0, r.stderr);
      const after = await layerInfo(base);
      assert.notEqual(after.dataWriteGuid, before.dataWriteGuid, `run ${run}: the base's data changed`);
      const kept = await layerInfo(child);
      assert.equal(kept.locator!.parent_linkage, `{${after.dataWriteGuid}}`, `run ${run}`);
      assert.equal(kept.locator!.parent_linkage2, undefined, `run ${run}: the alternate is dropped once done`);
      assert.ok(same(await viewOf(child), model), `run ${run}: the child opens without --ignore-parent-uuid and is unchanged`);
      assert.ok(same(await viewOf(base), model), `run ${run}: the base holds the child's view`);
    }
    assert.equal(vdisk('check', child).status, 0);
  });
});

/** A child whose block `b` has BAT state `state` and no data (as Hyper-V leaves unmapped or zeroed blocks). */
async function childWithBlockState(state: number, b: number): Promise<{ child: string; model: Uint8Array }> {
  const { child, model } = await baseAndChild(3 * MiB);
  await writeModel(child, model, [[2 * MiB, 4096]], 0x11);
  const g = batGeometry(3 * MiB, MiB, 512, true);
  setBatEntry(child, payloadEntryIndex(g, b), state, 0);
  model.fill(0, b * MiB, (b + 1) * MiB);
  return { child, model };
}

// Regression: writing into a child's block whose state is ZERO (2), UNMAPPED (3) or
// UNDEFINED (1) once made it PARTIALLY_PRESENT with only the written sectors' bits set,
// so the rest of the block, which read as zeros, then read the parent's data.
describe('differencing VHDX: writing into a block that reads as zeros', () => {
  for (const [name, state] of [['ZERO', PayloadState.zero], ['UNMAPPED', PayloadState.unmapped], ['UNDEFINED', PayloadState.undefined]] as const) {
    it(`a block in state ${name} keeps reading zeros where it was not written`, async () => {
      const { child, model } = await childWithBlockState(state, 1);
      assert.ok(same(await viewOf(child), model), 'before the write: zeros');
      await writeModel(child, model, [[MiB + 4096, 512]], 0x22);
      const view = await viewOf(child);
      assert.deepEqual([...view.subarray(MiB + 4096, MiB + 4098)], [...model.subarray(MiB + 4096, MiB + 4098)], 'the written sector');
      assert.ok(same(view, model), `block 1 outside the written sector reads ${view[MiB]} (the parent's byte), not 0`);
    });
  }
});

// Regression: every re-link once appended the new locator after the highest item in the
// 1 MiB metadata region and never reused old space, so about 234 re-links exhausted it.
describe('re-linking a child many times', () => {
  it('a child can be re-linked 300 times (commit re-links it twice per run)', async () => {
    const { child, model } = await baseAndChild(MiB);
    const w = (await openImage(child, { writable: true })) as WritableDiskImage;
    let done = 0;
    try {
      for (; done < 300; done++) await w.acceptParentIdentity!(new Uint8Array(randomBytes(16)));
    } catch (err) {
      assert.fail(`re-link ${done + 1} failed: ${(err as Error).message}`);
    } finally {
      await w.close();
    }
    assert.ok(same(await viewOf(child), model));
  });
});
