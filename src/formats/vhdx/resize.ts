import { DiskImageError } from '../../errors.js';
import type { ImageFile } from '../../io/image-file.js';
import { roundUp } from '../../util/checked.js';
import { uuidEqual } from '../../util/uuid.js';
import { roundNewSize, zeroFileRange } from '../resize-common.js';
import { checkShrink } from '../shrink-check.js';
import type { ResizeOptions, ResizeResult } from '../types.js';
import { batGeometry, type BatGeometry } from './bat-geometry.js';
import { Item, KiB64, MAX_VIRTUAL_SIZE, MiB, PayloadState } from './constants.js';
import type { VhdxLayout } from './layout.js';
import { decodeMetadataTable } from './metadata.js';
import { encodeRegionTable } from './region-table.js';
import { VhdxLayer } from './reader.js';
import { normaliseRegionTables, openVhdxForChange, reclaimVhdxSpace, relocateVhdxBat, takeNewHeader, vhdxNextFree, writePayloadEntry } from './reclaim.js';
import { VHDX_MAX_BAT_ENTRIES } from '../../limits.js';

/** Writes zeros over BAT entries [from, to) when any of them is not zero; returns true when it wrote (the caller fsyncs). */
async function clearEntries(file: ImageFile, l: VhdxLayout, from: number, to: number): Promise<boolean> {
  if (to <= from) return false;
  const at = l.regions.bat.offset + from * 8;
  const current = new Uint8Array((to - from) * 8);
  await file.read(current, at);
  if (current.every((x) => x === 0)) return false;
  await file.write(new Uint8Array(current.length), at);
  return true;
}

/** Writes the virtual disk size metadata item (2.6.2.2): 8 bytes in place, one sector, fsync. */
async function writeVirtualSize(file: ImageFile, l: VhdxLayout, size: number): Promise<void> {
  const region = l.regions.metadata;
  const table = new Uint8Array(KiB64);
  await file.read(table, region.offset);
  const entry = decodeMetadataTable(table, region).find((e) => uuidEqual(e.itemId, Item.virtualDiskSize));
  if (!entry) throw new DiskImageError('CORRUPT', `${file.path}: VHDX metadata lacks the virtual disk size item`);
  const item = new Uint8Array(8);
  new DataView(item.buffer).setBigUint64(0, BigInt(size), true);
  await file.write(item, region.offset + entry.offset);
  await file.sync();
  l.metadata.virtualSize = size;
}

/**
 * Grow. The BAT region must hold the new geometry's entries: if it is too
 * small the table moves to a new 1 MiB-aligned region past everything else
 * (`relocateVhdxBat`: table, fsync, region table 2, fsync, region table 1,
 * fsync); otherwise the entries the new size adds are zeroed (NOT_PRESENT,
 * fsync) so stale values never surface. The part of the last block past the
 * old size is zeroed (fsync). A fixed VHDX (LeaveBlockAllocated) gets its new
 * blocks allocated: the file grown over them (zeros), fsync, their entries
 * FULLY_PRESENT, fsync. All of that lies past the old size: invisible until
 * the size item changes.
 */
async function grow(file: ImageFile, l: VhdxLayout, g: BatGeometry): Promise<void> {
  const old = l.metadata.virtualSize;
  const bs = g.blockSize;
  const oldEntries = l.bat.geometry.totalEntries;
  if (g.totalEntries * 8 > l.regions.bat.length) {
    await relocateVhdxBat(file, l, vhdxNextFree(l), roundUp(g.totalEntries * 8, MiB));
  } else if (await clearEntries(file, l, oldEntries, g.totalEntries)) {
    await file.sync();
  }
  const last = l.bat.geometry.payloadBlocks - 1;
  if (old % bs !== 0 && l.bat.states[last] === PayloadState.fullyPresent) {
    if (await zeroFileRange(file, l.bat.offsetsMb[last]! * MiB + (old % bs), bs - (old % bs))) await file.sync();
  }
  if (!l.metadata.leaveBlocksAllocated) return;
  const first = l.bat.geometry.payloadBlocks;
  const count = g.payloadBlocks - first;
  if (count <= 0) return;
  const start = vhdxNextFree(l);
  // Whatever lies past the last structure belongs to nothing (an interrupted earlier attempt): new blocks start over zeros.
  if (file.size > start) await file.truncate(start);
  await file.truncate(start + count * bs);
  await file.sync();
  const states = new Uint8Array(g.payloadBlocks);
  const offsetsMb = new Float64Array(g.payloadBlocks);
  states.set(l.bat.states);
  offsetsMb.set(l.bat.offsetsMb);
  const bitmapMb = new Float64Array(g.bitmapBlocks);
  bitmapMb.set(l.bat.bitmapMb.subarray(0, g.bitmapBlocks));
  l.bat = { geometry: g, states, offsetsMb, bitmapMb };
  for (let b = first; b < g.payloadBlocks; b++) {
    states[b] = PayloadState.fullyPresent;
    offsetsMb[b] = (start + (b - first) * bs) / MiB;
    await writePayloadEntry(file, l, b);
  }
  await file.sync();
}

/**
 * Shrink (the cut range holds only zeros). The entries past the new size are
 * zeroed (their blocks read zeros either way, so the view does not change;
 * fsync), the blocks they freed reclaimed (`reclaimVhdxSpace`).
 */
async function shrink(file: ImageFile, l: VhdxLayout, g: BatGeometry): Promise<void> {
  if (await clearEntries(file, l, g.totalEntries, l.bat.geometry.totalEntries)) await file.sync();
  for (let b = g.payloadBlocks; b < l.bat.states.length; b++) {
    l.bat.states[b] = PayloadState.notPresent;
    l.bat.offsetsMb[b] = 0;
  }
  await reclaimVhdxSpace(file, l);
}

/**
 * `vdisk resize` for VHDX (dynamic and fixed; differencing is refused). The
 * size is rounded up to the logical sector, at most 64 TiB. Order: a new
 * header (next sequence number, other slot, new FileWriteGuid and
 * DataWriteGuid: the guest-visible disk changes), fsync; region tables made
 * equal (finishing an interrupted relocation); grow or shrink as above; last
 * the 8-byte virtual disk size item, fsync, which switches the view from the
 * old size to the new. See docs/resize-compact.md.
 */
export async function resizeVhdx(path: string, requested: number, opts: ResizeOptions): Promise<ResizeResult> {
  const { file, layout: l } = await openVhdxForChange(path, opts, 'resize', "a differencing disk keeps its parent's size");
  try {
    const m = l.metadata;
    const size = roundNewSize(requested, m.logicalSectorSize, MAX_VIRTUAL_SIZE, 'a VHDX');
    const oldSize = m.virtualSize;
    const g = batGeometry(size, m.blockSize, m.logicalSectorSize, false);
    if (g.totalEntries > VHDX_MAX_BAT_ENTRIES) {
      throw new DiskImageError('UNSUPPORTED', `${path}: ${size} bytes needs ${g.totalEntries} BAT entries of ${m.blockSize}-byte blocks, more than vdisk's limit of ${VHDX_MAX_BAT_ENTRIES}`, {
        value: g.totalEntries,
        limit: VHDX_MAX_BAT_ENTRIES,
      });
    }
    await checkShrink(new VhdxLayer(path, l), size, opts.shrink);
    const [t1, t2] = l.regionTables;
    const tablesDiffer = !t1 || !t2 || !Buffer.from(encodeRegionTable(t1)).equals(Buffer.from(encodeRegionTable(t2)));
    if (size === oldSize && !tablesDiffer) return { oldSize, newSize: size };
    await takeNewHeader(file, l, size !== oldSize);
    await normaliseRegionTables(file, l);
    if (size > oldSize) await grow(file, l, g);
    else if (size < oldSize) await shrink(file, l, g);
    if (size !== oldSize) await writeVirtualSize(file, l, size);
    return { oldSize, newSize: size };
  } finally {
    await file.close();
  }
}
