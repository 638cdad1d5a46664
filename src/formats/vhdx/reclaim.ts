import { DiskImageError } from '../../errors.js';
import { openDiskFile } from '../../io/file.js';
import type { ImageFile } from '../../io/image-file.js';
import { roundUp } from '../../util/checked.js';
import { uuidEqual, randomUuid } from '../../util/uuid.js';
import { copyWithinFile } from '../resize-common.js';
import type { OpenOptions } from '../types.js';
import { encodeBatEntry } from './bat.js';
import { payloadEntryIndex } from './bat-geometry.js';
import { BAT_REGION, HEADER_OFFSETS, MiB, PayloadState, REGION_TABLE_OFFSETS } from './constants.js';
import { encodeHeader } from './header.js';
import { readVhdxLayout, type VhdxLayout } from './layout.js';
import { encodeRegionTable, type Region } from './region-table.js';

/**
 * Space management shared by VHDX resize and compact ([MS-VHDX] 2.2.2, 2.2.3,
 * 2.5): a new header before the first change, region tables written in an
 * order a reader of either survives, blocks moved into free space, the BAT
 * region relocated. docs/resize-compact.md gives the write orders.
 */

/** A byte range of the file, [start, end). */
interface Occupied {
  start: number;
  end: number;
}

/**
 * Opens a VHDX for an in-place change (exclusive lock; a pending log is
 * refused until `check --repair`) and reads its layout; a differencing VHDX
 * is refused with `why`.
 */
export async function openVhdxForChange(path: string, opts: OpenOptions, what: string, why: string): Promise<{ file: ImageFile; layout: VhdxLayout }> {
  const file = await (opts.openFile ?? openDiskFile)(path, 'write');
  try {
    const layout = await readVhdxLayout(file, true);
    for (const w of layout.warnings) opts.onWarning?.(`${path}: ${w}`);
    if (layout.metadata.hasParent) throw new DiskImageError('UNSUPPORTED', `${path}: cannot ${what} a differencing VHDX (${why}); commit or convert it first`, { diskType: 'differencing' });
    return { file, layout };
  } catch (err) {
    await file.close();
    throw err;
  }
}

/**
 * Writes the next header (sequence number + 1, fresh FileWriteGuid, and a
 * fresh DataWriteGuid when `dataChanges`: the guest-visible disk changes) into
 * the non-current slot, fsync (2.2.2.1). A torn write fails its CRC-32C and
 * leaves the old header current.
 */
export async function takeNewHeader(file: ImageFile, l: VhdxLayout, dataChanges: boolean): Promise<void> {
  const h = l.header;
  const fields = { ...h.fields, sequenceNumber: h.sequenceNumber + 1n, fileWriteGuid: randomUuid(), ...(dataChanges && { dataWriteGuid: randomUuid() }) };
  const slot = 1 - h.slot;
  await file.write(encodeHeader(fields), HEADER_OFFSETS[slot]!);
  await file.sync();
  l.header = { ...h, fields, slot, sequenceNumber: fields.sequenceNumber };
  l.headers[slot] = l.header;
}

/**
 * Makes both region tables equal the one in force (table 1 if valid, else
 * table 2), writing table 2 before table 1, each with an fsync. This finishes
 * a relocation a crash interrupted (or forgets one that never reached table 1).
 */
export async function normaliseRegionTables(file: ImageFile, l: VhdxLayout): Promise<void> {
  const inForce = l.regionTables[0] ?? l.regionTables[1]!;
  const encoded = encodeRegionTable(inForce);
  for (const i of [1, 0]) {
    const t = l.regionTables[i];
    if (t && Buffer.from(encodeRegionTable(t)).equals(Buffer.from(encoded))) continue;
    await file.write(encoded, REGION_TABLE_OFFSETS[i]!);
    await file.sync();
    l.regionTables[i] = inForce;
  }
}

/** What the file holds: the first MiB, the log, every region, present blocks and sector bitmap blocks. */
function usedRanges(l: VhdxLayout, withBat = true): Occupied[] {
  const out: Occupied[] = [{ start: 0, end: MiB }];
  if (l.header.logLength > 0) out.push({ start: l.header.logOffset, end: l.header.logOffset + l.header.logLength });
  for (const r of l.regions.all) if (withBat || !uuidEqual(r.guid, BAT_REGION)) out.push({ start: r.offset, end: r.offset + r.length });
  const { bat } = l;
  for (let b = 0; b < bat.states.length; b++) {
    const s = bat.states[b];
    if (s === PayloadState.fullyPresent || s === PayloadState.partiallyPresent) out.push({ start: bat.offsetsMb[b]! * MiB, end: bat.offsetsMb[b]! * MiB + bat.geometry.blockSize });
  }
  for (const mb of bat.bitmapMb) if (mb > 0) out.push({ start: mb * MiB, end: (mb + 1) * MiB });
  return out.sort((a, b) => a.start - b.start);
}

/** Where new structures go: the end of everything in use, 1 MiB aligned. */
export function vhdxNextFree(l: VhdxLayout): number {
  let end = 0;
  for (const r of usedRanges(l)) end = Math.max(end, r.end);
  return roundUp(end, MiB);
}

/** Free 1 MiB-aligned gaps of at least `length` bytes below the end of the last used range, in file order. */
function gaps(used: Occupied[], length: number): Occupied[] {
  const out: Occupied[] = [];
  let pos = 0;
  for (const r of used) {
    const start = roundUp(pos, MiB);
    if (r.start - start >= length) out.push({ start, end: r.start });
    pos = Math.max(pos, r.end);
  }
  return out;
}

/**
 * Gives the BAT region a new place: the current entries (zeros beyond them)
 * written at `at` as a region of `length` bytes (1 MiB multiple) in free
 * space, fsync; then region table 2, fsync; then region table 1, fsync.
 * A reader uses table 1 when it is valid, else table 2 (2.2.3): before table
 * 1 is written it finds the old BAT, after it the new one, and a torn table 1
 * fails its CRC-32C and sends it to table 2, which already names the new BAT.
 * Both copies of the BAT hold the same entries, so the guest view is the same.
 */
export async function relocateVhdxBat(file: ImageFile, l: VhdxLayout, at: number, length: number): Promise<void> {
  const used = l.bat.geometry.totalEntries * 8;
  const table = new Uint8Array(length);
  await file.read(table.subarray(0, used), l.regions.bat.offset);
  await file.write(table, at);
  await file.sync();
  const bat: Region = { ...l.regions.bat, offset: at, length };
  const regions = l.regions.all.map((r) => (uuidEqual(r.guid, BAT_REGION) ? bat : r));
  const encoded = encodeRegionTable(regions);
  await file.write(encoded, REGION_TABLE_OFFSETS[1]);
  await file.sync();
  await file.write(encoded, REGION_TABLE_OFFSETS[0]);
  await file.sync();
  l.regions = { ...l.regions, bat, all: regions };
  l.regionTables = [regions, regions];
}

/** Writes the BAT entry of payload block `b` from the in-memory BAT (8 bytes: one sector, so never torn); the caller fsyncs. */
export async function writePayloadEntry(file: ImageFile, l: VhdxLayout, b: number): Promise<void> {
  const { bat } = l;
  await file.write(encodeBatEntry(bat.states[b]!, bat.offsetsMb[b]!), l.regions.bat.offset + payloadEntryIndex(bat.geometry, b) * 8);
}

/** The present block at the highest file offset, or -1. */
function lastBlock(l: VhdxLayout): number {
  const { bat } = l;
  let last = -1;
  for (let b = 0; b < bat.states.length; b++) {
    const s = bat.states[b];
    if ((s === PayloadState.fullyPresent || s === PayloadState.partiallyPresent) && (last < 0 || bat.offsetsMb[b]! > bat.offsetsMb[last]!)) last = b;
  }
  return last;
}

/** Where a BAT region that ends the file could move down to, or undefined. */
function lowerBatSpot(l: VhdxLayout): number | undefined {
  const region = l.regions.bat;
  const others = usedRanges(l, false);
  const otherEnd = others.reduce((n, r) => Math.max(n, r.end), 0);
  if (region.offset < otherEnd) return undefined;
  const spot = gaps([...others, { start: region.offset, end: region.offset + region.length }], region.length)[0];
  return spot && spot.start < region.offset ? spot.start : undefined;
}

/** The first free gap a block could move down into, or undefined. */
function blockGap(l: VhdxLayout): { gap: Occupied; last: number } | undefined {
  const gap = gaps(usedRanges(l), l.bat.geometry.blockSize)[0];
  const last = lastBlock(l);
  if (!gap || last < 0 || gap.start > l.bat.offsetsMb[last]! * MiB) return undefined;
  return { gap, last };
}

/** True when `reclaimVhdxSpace` would change anything. */
export function vhdxSpaceReclaimable(file: ImageFile, l: VhdxLayout): boolean {
  return blockGap(l) !== undefined || lowerBatSpot(l) !== undefined || file.size > vhdxNextFree(l);
}

/**
 * Gives back space no block uses (blocks compact or a shrink dropped, space a
 * relocated BAT left): the last block moved into the first free gap below it,
 * one at a time (copy, fsync, its 8-byte BAT entry, fsync: the entry always
 * points at a complete copy); a BAT region that ends the file moved down
 * into a gap below it (`relocateVhdxBat`); then the file cut after the last
 * structure (fsync). Returns how many blocks moved.
 */
export async function reclaimVhdxSpace(file: ImageFile, l: VhdxLayout): Promise<number> {
  const { bat } = l;
  let moved = 0;
  for (let round = 0; round < 2; round++) {
    for (let next = blockGap(l); next; next = blockGap(l)) {
      const { gap, last } = next;
      await copyWithinFile(file, bat.offsetsMb[last]! * MiB, gap.start, bat.geometry.blockSize);
      await file.sync();
      bat.offsetsMb[last] = gap.start / MiB;
      await writePayloadEntry(file, l, last);
      await file.sync();
      moved++;
    }
    const spot = lowerBatSpot(l);
    if (spot === undefined) break;
    await relocateVhdxBat(file, l, spot, l.regions.bat.length);
  }
  const end = vhdxNextFree(l);
  if (file.size > end) {
    await file.truncate(end);
    await file.sync();
  }
  return moved;
}
