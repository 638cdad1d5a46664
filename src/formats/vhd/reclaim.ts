import type { ImageFile } from '../../io/image-file.js';
import { roundUp } from '../../util/checked.js';
import { copyWithinFile } from '../resize-common.js';
import { appendedBlockOffset, bitmapBytes, encodeBat } from './bat.js';
import { BAT_UNUSED, FOOTER_SIZE, HEADER_SIZE, PlatformCode, SECTOR } from './constants.js';
import { decodeDynamicHeader, encodeDynamicHeader, type HeaderFields } from './dynamic-header.js';
import { encodeFooter, type FooterFields } from './footer.js';
import type { VhdLayout } from './layout.js';
import { locatorSpaceBytes } from './parent-locator.js';

/** A byte range of the file, [start, end). */
interface Occupied {
  start: number;
  end: number;
}

/** Bytes of a dynamic VHD's BAT region as its header declares it (Max Table Entries, whole sectors). */
function batRegionBytes(l: VhdLayout): number {
  return roundUp(l.header!.maxTableEntries * 4, SECTOR);
}

/**
 * The ranges of a dynamic VHD that hold metadata: the footer copy, the dynamic
 * header, the BAT region and every parent locator's reserved space. With
 * `withBat` false the BAT is left out (to find where it could move).
 */
function metadataRanges(l: VhdLayout, withBat = true): Occupied[] {
  const h = l.header!;
  const out: Occupied[] = [{ start: 0, end: FOOTER_SIZE }];
  const at = l.footer.dataOffset ?? FOOTER_SIZE;
  out.push({ start: at, end: at + HEADER_SIZE });
  if (withBat) out.push({ start: h.tableOffset, end: h.tableOffset + batRegionBytes(l) });
  for (const e of h.locators) {
    if (e.platformCode === PlatformCode.none || e.platformDataOffset > BigInt(Number.MAX_SAFE_INTEGER)) continue;
    const start = Number(e.platformDataOffset);
    out.push({ start, end: start + Math.max(locatorSpaceBytes(e.platformDataSpace), roundUp(e.platformDataLength, SECTOR)) });
  }
  return out;
}

/** Ranges of the allocated blocks (sector bitmap and data). */
function blockRanges(l: VhdLayout): Occupied[] {
  const span = bitmapBytes(l.header!.blockSize) + l.header!.blockSize;
  const out: Occupied[] = [];
  for (const e of l.bat!) if (e !== BAT_UNUSED) out.push({ start: e * SECTOR, end: e * SECTOR + span });
  return out;
}

/** End of the last structure or block: where the end footer belongs. */
export function structuresEnd(l: VhdLayout): number {
  let end = 0;
  for (const r of [...metadataRanges(l), ...blockRanges(l)]) end = Math.max(end, r.end);
  return roundUp(end, SECTOR);
}

/**
 * Gaps of at least one block (bitmap and data) that neither metadata nor a
 * block uses, below the end of the last structure, in file order. Smaller gaps
 * are alignment padding (Hyper-V leaves one between the BAT and the first block).
 */
export function leakedGaps(l: VhdLayout): Occupied[] {
  const span = bitmapBytes(l.header!.blockSize) + l.header!.blockSize;
  const used = [...metadataRanges(l), ...blockRanges(l)].sort((a, b) => a.start - b.start);
  const gaps: Occupied[] = [];
  let pos = 0;
  for (const r of used) {
    if (r.start - pos >= span) gaps.push({ start: pos, end: r.start });
    pos = Math.max(pos, r.end);
  }
  return gaps;
}

/**
 * Moves the last blocks of a dynamic VHD into gaps that nothing uses (leaked
 * blocks, blocks compact dropped, the space a moved BAT left), one at a time:
 * copy the block into the gap (its data 4 KiB aligned where the gap has
 * room), fsync, point its BAT entry there (one 4-byte
 * write), fsync. A crash at any point leaves the BAT pointing at a complete
 * copy. Returns how many blocks moved and sets `l.dataEnd`; the caller then
 * writes the footer after the new last structure and truncates
 * (`placeFooters`).
 */
export async function reclaimLeakedBlocks(file: ImageFile, l: VhdLayout): Promise<number> {
  const bat = l.bat!;
  const header = l.header!;
  const span = bitmapBytes(header.blockSize) + header.blockSize;
  let moved = 0;
  for (;;) {
    const gap = leakedGaps(l)[0];
    if (!gap) break;
    let last = -1;
    for (let b = 0; b < bat.length; b++) if (bat[b] !== BAT_UNUSED && (last < 0 || bat[b]! > bat[last]!)) last = b;
    if (last < 0) break;
    const from = bat[last]! * SECTOR;
    if (gap.start > from) break;
    const aligned = appendedBlockOffset(gap.start, header.blockSize);
    const to = aligned + span <= gap.end ? aligned : gap.start;
    await copyWithinFile(file, from, to, span);
    await file.sync();
    const entry = new Uint8Array(4);
    new DataView(entry.buffer).setUint32(0, to / SECTOR);
    await file.write(entry, header.tableOffset + last * 4);
    await file.sync();
    bat[last] = to / SECTOR;
    moved++;
  }
  l.dataEnd = structuresEnd(l);
  return moved;
}

/**
 * Rewrites the first sector of the dynamic header with `change` applied and a
 * fresh checksum; fsync. Table Offset, Max Table Entries and the checksum all
 * lie in that sector and the second one (parent locator entries) keeps its
 * bytes, so a torn write leaves the old or the new header, never a mix.
 */
async function rewriteHeaderSector(file: ImageFile, l: VhdLayout, change: Partial<HeaderFields>): Promise<void> {
  const h = l.header!;
  const at = l.footer.dataOffset!;
  const encoded = encodeDynamicHeader({ ...h.fields, ...change }, h.locators);
  const stored = new Uint8Array(HEADER_SIZE);
  await file.read(stored, at);
  // Bytes another writer left in reserved fields of the second sector would change the checksum: then write both.
  const sameTail = Buffer.from(stored.subarray(SECTOR)).equals(Buffer.from(encoded.subarray(SECTOR)));
  await file.write(sameTail ? encoded.subarray(0, SECTOR) : encoded, at);
  await file.sync();
  l.header = decodeDynamicHeader(encoded, at);
}

/**
 * Gives a dynamic VHD a BAT of `entries` entries at `at` (free space: past
 * every structure, or a gap no structure uses): when the table reaches the
 * end footer's place, the footer first goes past it (fsync), so the file
 * always ends in a valid footer (docs/chains.md); then the table (the
 * current entries, unused beyond them) written there, fsync; then the
 * header's first sector switched to it (`rewriteHeaderSector`), fsync. Until
 * the switch the new copy is unreferenced bytes; after it, the old region is.
 */
export async function relocateBat(file: ImageFile, l: VhdLayout, at: number, entries: number): Promise<void> {
  const bytes = roundUp(entries * 4, SECTOR);
  if (at + bytes > file.size - FOOTER_SIZE) {
    await file.write(encodeFooter(l.footer.fields), at + bytes);
    await file.sync();
  }
  await file.write(encodeBat(l.bat!, bytes), at);
  await file.sync();
  await rewriteHeaderSector(file, l, { tableOffset: BigInt(at), maxTableEntries: entries });
  l.dataEnd = structuresEnd(l);
}

/**
 * Moves a BAT that lies after free space (a BAT resize put past the blocks,
 * once compact freed the blocks before it) down to the end of the other
 * structures, when the two places do not overlap. Returns true when it moved.
 */
export async function lowerBat(file: ImageFile, l: VhdLayout): Promise<boolean> {
  const h = l.header!;
  let below = 0;
  for (const r of [...metadataRanges(l, false), ...blockRanges(l)]) below = Math.max(below, r.end);
  below = roundUp(below, SECTOR);
  if (h.tableOffset < below || below + batRegionBytes(l) > h.tableOffset) return false;
  await relocateBat(file, l, below, h.maxTableEntries);
  return true;
}

/**
 * Puts `footer` after the last structure and cuts off whatever lies beyond it
 * (write, truncate, fsync: until the truncate, the old end footer is still the
 * last sector and in force), then into the copy at offset 0 when that differs
 * (fsync). Returns what it wrote: 'end', 'copy', both or neither.
 */
export async function placeFooters(file: ImageFile, l: VhdLayout, footer: FooterFields): Promise<{ end: boolean; copy: boolean }> {
  const encoded = encodeFooter(footer);
  const endAt = l.dataEnd;
  const done = { end: false, copy: false };
  const current = new Uint8Array(FOOTER_SIZE);
  const endInPlace = file.size === endAt + FOOTER_SIZE && (await readInto(file, current, endAt)) && Buffer.from(current).equals(Buffer.from(encoded));
  if (!endInPlace) {
    await file.write(encoded, endAt);
    if (file.size > endAt + FOOTER_SIZE) await file.truncate(endAt + FOOTER_SIZE);
    await file.sync();
    done.end = true;
  }
  if (!((await readInto(file, current, 0)) && Buffer.from(current).equals(Buffer.from(encoded)))) {
    await file.write(encoded, 0);
    await file.sync();
    done.copy = true;
  }
  return done;
}

async function readInto(file: ImageFile, buf: Uint8Array, offset: number): Promise<boolean> {
  if (offset + buf.length > file.size) return false;
  await file.read(buf, offset);
  return true;
}
