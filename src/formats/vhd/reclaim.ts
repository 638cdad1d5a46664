import type { ImageFile } from '../../io/image-file.js';
import { bitmapBytes } from './bat.js';
import { BAT_UNUSED, SECTOR } from './constants.js';
import type { VhdLayout } from './layout.js';

/** Largest piece a block is moved in. */
const MOVE_CHUNK = 8 * 1024 * 1024;

/** Gaps of at least one block between `from` and the last block, in file order. */
function blockGaps(l: VhdLayout, from: number): { start: number; end: number }[] {
  const span = bitmapBytes(l.header!.blockSize) + l.header!.blockSize;
  const starts = Array.from(l.bat!).filter((e) => e !== BAT_UNUSED).map((e) => e * SECTOR).sort((a, b) => a - b);
  const gaps: { start: number; end: number }[] = [];
  let pos = from;
  for (const s of starts) {
    if (s - pos >= span) gaps.push({ start: pos, end: s });
    pos = Math.max(pos, s + span);
  }
  return gaps;
}

/**
 * Moves the last blocks of a dynamic VHD into gaps that no BAT entry uses
 * (leaked blocks), one at a time: copy the block into the gap, fsync, point
 * its BAT entry there (one 4-byte write), fsync. A crash at any point leaves
 * the BAT pointing at a complete copy. Returns how many blocks moved; the
 * caller then writes the footer after the new last block and truncates.
 */
export async function reclaimLeakedBlocks(file: ImageFile, l: VhdLayout, metadataEnd: number): Promise<number> {
  const bat = l.bat!;
  const header = l.header!;
  const span = bitmapBytes(header.blockSize) + header.blockSize;
  const buf = new Uint8Array(Math.min(span, MOVE_CHUNK));
  let moved = 0;
  for (;;) {
    const gap = blockGaps(l, metadataEnd)[0];
    if (!gap) break;
    let last = -1;
    for (let b = 0; b < bat.length; b++) if (bat[b] !== BAT_UNUSED && (last < 0 || bat[b]! > bat[last]!)) last = b;
    const from = bat[last]! * SECTOR;
    if (from < gap.end) break;
    for (let off = 0; off < span; off += buf.length) {
      const piece = buf.subarray(0, Math.min(buf.length, span - off));
      await file.read(piece, from + off);
      await file.write(piece, gap.start + off);
    }
    await file.sync();
    const entry = new Uint8Array(4);
    new DataView(entry.buffer).setUint32(0, gap.start / SECTOR);
    await file.write(entry, header.tableOffset + last * 4);
    await file.sync();
    bat[last] = gap.start / SECTOR;
    moved++;
  }
  let end = metadataEnd;
  for (const e of bat) if (e !== BAT_UNUSED) end = Math.max(end, e * SECTOR + span);
  l.dataEnd = end;
  return moved;
}
