import { DiskImageError } from '../../errors.js';
import { openDiskFile } from '../../io/file.js';
import type { ImageFile } from '../../io/image-file.js';
import { roundNewSize, zeroFileRange } from '../resize-common.js';
import { checkShrink } from '../shrink-check.js';
import type { OpenOptions, ResizeOptions, ResizeResult } from '../types.js';
import { bitmapBytes, blockCountFor } from './bat.js';
import { BAT_UNUSED, FOOTER_SIZE, MAX_VIRTUAL_SIZE, SECTOR, WRITER_CREATOR } from './constants.js';
import { encodeFooter, type FooterFields } from './footer.js';
import { geometryForSize } from './geometry.js';
import { readVhdLayout, type VhdLayout } from './layout.js';
import { placeFooters, reclaimLeakedBlocks, relocateBat, structuresEnd, lowerBat } from './reclaim.js';
import { VhdLayer } from './reader.js';
import { VHD_MAX_BAT_ENTRIES } from '../../limits.js';

/**
 * Opens a VHD for an in-place change (exclusive lock) and reads its layout;
 * refuses what the change cannot handle safely: a differencing disk (its
 * size must stay its parent's; a zero block may hide parent data), and
 * checksums that `check --repair` must fix first.
 */
export async function openForChange(path: string, opts: OpenOptions, what: string): Promise<{ file: ImageFile; layout: VhdLayout }> {
  const file = await (opts.openFile ?? openDiskFile)(path, 'write');
  try {
    if (file.size < FOOTER_SIZE) throw new DiskImageError('INVALID_FORMAT', `${path}: ${file.size} bytes is too small for a VHD`);
    const layout = await readVhdLayout(file);
    for (const w of layout.warnings) opts.onWarning?.(`${path}: ${w}`);
    if (layout.footer.diskType === 'differencing') {
      const why = what === 'resize' ? 'a differencing disk keeps its parent\'s size' : 'an all-zero block of a differencing disk hides its parent\'s data';
      throw new DiskImageError('UNSUPPORTED', `${path}: cannot ${what} a differencing VHD (${why}); commit or convert it first`, { diskType: 'differencing' });
    }
    if (!layout.footer.checksumValid || (layout.header && !layout.header.checksumValid)) {
      throw new DiskImageError('CORRUPT', `${path}: the ${layout.footer.checksumValid ? 'dynamic header' : 'footer'} checksum is wrong; run vdisk check --repair first`, { field: 'checksum' });
    }
    return { file, layout };
  } catch (err) {
    await file.close();
    throw err;
  }
}

/**
 * Footer fields for a new size: current size and the spec's CHS geometry for
 * it (Appendix A). Original size follows too: the spec calls it informational
 * (the size at creation), but libvhdi (vhdiinfo/vhdimount 20210425 and its
 * current source) takes it as the media size, so keeping it would show
 * libvhdi users the old size (docs/resize-compact.md). An image sized by its
 * geometry (creator `vpc ` or `qemu`, docs/formats/vhd.md) gets vdisk's
 * creator (`win `), so that every reader takes the new current size.
 */
function footerForSize(l: VhdLayout, size: number): FooterFields {
  const g = geometryForSize(size);
  const creator = l.sizeRule === 'chs' ? { creatorApp: WRITER_CREATOR.app, creatorVersion: WRITER_CREATOR.version, creatorHostOs: WRITER_CREATOR.hostOs } : {};
  return { ...l.footer.fields, ...creator, currentSize: BigInt(size), originalSize: BigInt(size), cylinders: g.cylinders, heads: g.heads, sectorsPerTrack: g.sectorsPerTrack };
}

/**
 * Fixed VHD: the data is the file, the footer follows it. Grow: the current
 * footer is first copied to the new end (fsync; the old size still rules), the
 * bytes between the old and the new size zeroed (the old footer among them;
 * fsync), then the footer with the new size written at the end (fsync).
 * Shrink (cut range checked to hold only zeros): the end footer rewritten with
 * the new size (fsync: the data below is unchanged, the file merely longer
 * than needed), the same footer written at the new end (fsync), the file cut
 * after it (fsync). Every step is one sector write, an fsync-ed zero fill
 * past the old size, or a truncate, so each crash state reads the old or the
 * new contents; running the resize again finishes.
 */
async function resizeFixed(file: ImageFile, l: VhdLayout, size: number): Promise<void> {
  const old = l.virtualSize;
  let endAt = file.size - FOOTER_SIZE;
  if (size === old && endAt === size) return;
  if (size > old) {
    if (endAt < size) {
      await file.write(encodeFooter(l.footer.fields), size);
      await file.sync();
      endAt = size;
    }
    if (await zeroFileRange(file, old, size - old)) await file.sync();
  }
  const encoded = encodeFooter(size === old ? l.footer.fields : footerForSize(l, size));
  const current = new Uint8Array(FOOTER_SIZE);
  await file.read(current, endAt);
  if (!Buffer.from(current).equals(Buffer.from(encoded))) {
    await file.write(encoded, endAt);
    await file.sync();
  }
  if (endAt !== size) {
    await file.write(encoded, size);
    await file.sync();
    await file.truncate(size + FOOTER_SIZE);
    await file.sync();
  }
}

/** Writes BAT entries [from, to) as unused (0xFFFFFFFF) in one write; the caller fsyncs. */
async function clearEntries(file: ImageFile, l: VhdLayout, from: number, to: number): Promise<void> {
  if (to <= from) return;
  await file.write(new Uint8Array((to - from) * 4).fill(0xff), l.header!.tableOffset + from * 4);
}

/**
 * Dynamic VHD. Grow: a BAT too small for the new size is first relocated
 * (the larger table after the last structure, fsync; the header's first
 * sector switched to it, fsync — `relocateBat`); otherwise the entries the new
 * size adds are written unused (fsync), so stale values never surface; the
 * part of the last block past the old size is zeroed (fsync); then the end
 * footer with the new size after the last structure (fsync) and its copy at
 * offset 0 (fsync). Shrink: the entries past the new size are cleared (their
 * blocks hold zeros, so the view is unchanged; fsync), the freed blocks
 * reclaimed (`reclaimLeakedBlocks`), then the footers as above. Until the end
 * footer is written the old size rules (the end footer, or the copy at offset
 * 0 while a new BAT has overwritten the end footer); after it the new one.
 */
async function resizeDynamic(file: ImageFile, l: VhdLayout, size: number): Promise<void> {
  const header = l.header!;
  const bat = l.bat!;
  const old = l.virtualSize;
  const bs = header.blockSize;
  const oldCount = bat.length;
  const newCount = blockCountFor(size, bs);
  if (newCount > VHD_MAX_BAT_ENTRIES) {
    throw new DiskImageError('UNSUPPORTED', `${file.path}: ${size} bytes needs ${newCount} BAT entries of ${bs}-byte blocks, more than vdisk's limit of ${VHD_MAX_BAT_ENTRIES}; convert to larger blocks`, {
      value: newCount,
      limit: VHD_MAX_BAT_ENTRIES,
    });
  }
  if (size > old) {
    if (newCount > header.maxTableEntries) {
      // The new table overwrites the end footer: readers use the copy at offset 0 until the footers are rewritten.
      await ensureFooterCopy(file, l);
      await relocateBat(file, l, structuresEnd(l), newCount);
    } else if (newCount > oldCount) {
      await clearEntries(file, l, oldCount, newCount);
      await file.sync();
    }
    const last = oldCount - 1;
    if (old % bs !== 0 && bat[last] !== BAT_UNUSED) {
      const dataAt = bat[last]! * SECTOR + bitmapBytes(bs);
      if (await zeroFileRange(file, dataAt + (old % bs), bs - (old % bs))) await file.sync();
    }
  } else if (size < old) {
    let used = false;
    for (let b = newCount; b < oldCount; b++) used ||= bat[b] !== BAT_UNUSED;
    if (used) {
      await clearEntries(file, l, newCount, oldCount);
      await file.sync();
      bat.fill(BAT_UNUSED, newCount);
    }
    await reclaimLeakedBlocks(file, l);
    await lowerBat(file, l);
  }
  l.dataEnd = structuresEnd(l);
  await placeFooters(file, l, size === old ? l.footer.fields : footerForSize(l, size));
}

/** Makes the footer copy at offset 0 equal the footer in force (fsync), so it can stand in for the end footer. */
async function ensureFooterCopy(file: ImageFile, l: VhdLayout): Promise<void> {
  const encoded = encodeFooter(l.footer.fields);
  const copy = new Uint8Array(FOOTER_SIZE);
  await file.read(copy, 0);
  if (Buffer.from(copy).equals(Buffer.from(encoded))) return;
  await file.write(encoded, 0);
  await file.sync();
}

/**
 * `vdisk resize` for VHD (fixed and dynamic; differencing is refused): the
 * new size is rounded up to 512 bytes and at most 2040 GiB. Shrinking needs
 * `shrink` and a cut range that holds only zeros. See docs/resize-compact.md
 * for the write order of each case.
 */
export async function resizeVhd(path: string, requested: number, opts: ResizeOptions): Promise<ResizeResult> {
  const { file, layout } = await openForChange(path, opts, 'resize');
  try {
    const size = roundNewSize(requested, SECTOR, MAX_VIRTUAL_SIZE, 'a VHD', '; use VHDX for larger disks');
    const oldSize = layout.virtualSize;
    await checkShrink(new VhdLayer(file, layout), size, opts.shrink);
    if (layout.footer.diskType === 'fixed') await resizeFixed(file, layout, size);
    else await resizeDynamic(file, layout, size);
    return { oldSize, newSize: size };
  } finally {
    await file.close();
  }
}
