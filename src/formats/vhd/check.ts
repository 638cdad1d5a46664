import type { ImageFile } from '../../io/image-file.js';
import { uuidIsNil } from '../../util/uuid.js';
import { isAllZero } from '../../util/zero.js';
import type { Finding } from '../types.js';
import { bitmapBytes } from './bat.js';
import { BAT_UNUSED, FEATURE_RESERVED, FOOTER_SIZE, FORMAT_VERSION, MAX_VIRTUAL_SIZE, SECTOR } from './constants.js';
import type { VhdLayout } from './layout.js';
import { leakedGaps } from './reclaim.js';
import { bitmapRuns } from './bitmap.js';

/** Bytes of data under clear bitmap bits read at a time: a hostile header may make a block 2 GiB. */
const PIECE = 1024 * 1024;

/** True when the `length` bytes of `file` at `at` are not all zeros, read a piece at a time into `buf`. */
async function holdsData(file: ImageFile, at: number, length: number, buf: Uint8Array): Promise<boolean> {
  for (let done = 0; done < length; done += buf.length) {
    const piece = buf.subarray(0, Math.min(buf.length, length - done));
    await file.read(piece, at + done);
    if (!isAllZero(piece)) return true;
  }
  return false;
}

function corruption(code: string, message: string): Finding {
  return { severity: 'corruption', code, message };
}

/** Footer-level findings common to every disk type. */
function checkFooters(file: ImageFile, l: VhdLayout): Finding[] {
  const out: Finding[] = [];
  const { footer } = l;
  if (l.endFooterDamaged) out.push(corruption('END_FOOTER_DAMAGED', 'the footer at the end of the file is damaged (invalid fields, wrong checksum)'));
  else if (!l.endFooter) out.push(corruption('END_FOOTER_MISSING', 'no footer at the end of the file'));
  else if (!l.endFooter.checksumValid) out.push(corruption('FOOTER_CHECKSUM', `footer checksum is ${l.endFooter.fields.checksum}, expected ${l.endFooter.expectedChecksum}`));
  if (footer.diskType !== 'fixed') {
    if (!l.copyFooter) out.push(corruption('FOOTER_COPY_MISSING', 'no footer copy at offset 0'));
    else if (!l.copyFooter.checksumValid) out.push(corruption('FOOTER_COPY_CHECKSUM', 'footer copy at offset 0 has a wrong checksum'));
    if (l.endFooter && l.copyFooter && !sameFooter(l.endFooter.fields, l.copyFooter.fields)) {
      out.push(corruption('FOOTER_COPY_DIFFERS', 'footer copy at offset 0 differs from the end footer'));
    }
  }
  if (footer.currentSize > MAX_VIRTUAL_SIZE) out.push({ severity: 'warning', code: 'TOO_LARGE', message: `current size ${footer.currentSize} exceeds the VHD maximum of 2040 GiB; Hyper-V and qemu refuse it` });
  if (footer.currentSize % SECTOR !== 0) out.push(corruption('SIZE_UNALIGNED', `current size ${footer.currentSize} is not a multiple of 512`));
  if ((footer.fields.features & FEATURE_RESERVED) === 0) out.push({ severity: 'warning', code: 'FEATURES', message: 'features field lacks the reserved bit 0x2 the spec requires' });
  if (footer.fields.formatVersion !== FORMAT_VERSION) out.push({ severity: 'warning', code: 'VERSION', message: `file format version 0x${footer.fields.formatVersion.toString(16)} is not 1.0` });
  if (footer.diskType === 'fixed' && l.endFooter && file.size !== footer.currentSize + FOOTER_SIZE) {
    out.push({ severity: 'warning', code: 'FIXED_SIZE', message: `fixed VHD file is ${file.size} bytes, expected ${footer.currentSize + FOOTER_SIZE}` });
  }
  return out;
}

function sameFooter(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  return Object.keys(a).every((k) => {
    const x = a[k];
    const y = b[k];
    return x instanceof Uint8Array && y instanceof Uint8Array ? Buffer.from(x).equals(Buffer.from(y)) : x === y;
  });
}

/**
 * Sectors of a dynamic disk whose bitmap bit is clear but whose stored data is
 * not zero: qemu reads the data, libvhdi and the spec read zeros (docs/formats/vhd.md).
 * Reads only bitmaps, and data only under clear bits.
 */
async function bitmapDisagreements(file: ImageFile, l: VhdLayout): Promise<Finding[]> {
  const bs = l.header!.blockSize;
  const bitmap = new Uint8Array(bitmapBytes(bs));
  const piece = new Uint8Array(Math.min(PIECE, bs));
  const out: Finding[] = [];
  for (let b = 0; b < l.bat!.length; b++) {
    const e = l.bat![b]!;
    if (e === BAT_UNUSED) continue;
    await file.read(bitmap, e * SECTOR);
    for (const run of bitmapRuns(bitmap, 0, Math.min(bs, l.virtualSize - b * bs))) {
      if (run.set) continue;
      if (await holdsData(file, e * SECTOR + bitmap.length + run.start, run.end - run.start, piece)) {
        out.push({ severity: 'warning', code: 'BITMAP_READERS_DISAGREE', message: `block ${b}: sectors at guest offset ${b * bs + run.start} hold data but their bitmap bits are clear; vdisk and libvhdi read zeros there, qemu reads the data` });
        break;
      }
    }
  }
  return out;
}

/**
 * Structural check of one VHD layer: checksums, footer copy, sizes, header
 * fields, locators and leaked space. Fatal problems (BAT past the end,
 * overlapping blocks, ...) already failed the open and are reported by the
 * caller.
 */
export async function checkVhd(file: ImageFile, l: VhdLayout): Promise<Finding[]> {
  const out = checkFooters(file, l);
  const h = l.header;
  if (!h) return out;
  if (!h.checksumValid) out.push(corruption('HEADER_CHECKSUM', `dynamic header checksum is ${h.fields.checksum}, expected ${h.expectedChecksum}`));
  if (l.footer.diskType === 'differencing') {
    if (uuidIsNil(h.fields.parentUniqueId)) out.push(corruption('PARENT_UUID', 'differencing disk has no parent UUID'));
    for (const loc of l.locators) if (loc.error) out.push({ severity: 'warning', code: 'LOCATOR', message: `${loc.code} parent locator unusable: ${loc.error}` });
  }
  if (l.footer.diskType === 'dynamic') out.push(...(await bitmapDisagreements(file, l)));
  const tail = l.endFooter && l.footerSource === 'end' ? file.size - FOOTER_SIZE - l.dataEnd : 0;
  const leaked = leakedGaps(l).reduce((n, g) => n + g.end - g.start, 0) + Math.max(0, tail);
  if (leaked > 0) out.push({ severity: 'leak', code: 'LEAKED_SPACE', message: `${leaked} bytes between or after the blocks belong to no BAT entry` });
  return out;
}
