import type { ImageFile } from '../../io/image-file.js';
import { formatUuid } from '../../util/uuid.js';
import { BoundedCache } from '../../util/bounded-cache.js';
import { clampRange, fileExtents, mergeExtents, parentExtents } from '../extents.js';
import { assertGuestRange, blockPieces } from '../guest-range.js';
import type { DiskImage, Extent, Finding, ImageInfo } from '../types.js';
import { bitmapBytes } from './bat.js';
import { bitmapRuns } from './bitmap.js';
import { checkVhd } from './check.js';
import { BAT_UNUSED, SECTOR } from './constants.js';
import { describeFooter, timestampToIso } from './footer.js';
import type { VhdLayout } from './layout.js';
import { qemu72Size } from './size-rule.js';

/** Most sector bitmaps kept in the read cache (512 bytes each for 2 MiB blocks). */
const BITMAP_CACHE_LIMIT = 4096;

/** Sector bitmaps read ahead, concurrently, while walking extents (each is a small random read). */
const BITMAP_READ_AHEAD = 16;

/**
 * A fixed, dynamic or differencing VHD opened for reading. Reads honour the
 * sector bitmaps: a clear bit reads from the parent (differencing) or as
 * zeros (dynamic, as the spec says; see docs/formats/vhd.md).
 */
export class VhdImage implements DiskImage {
  readonly format = 'vhd' as const;
  readonly grain: number;
  readonly virtualSize: number;
  readonly warnings: string[];
  private readonly bitmapCache = new BoundedCache<number, Uint8Array>(BITMAP_CACHE_LIMIT);

  constructor(
    readonly file: ImageFile,
    readonly layout: VhdLayout,
    readonly parent?: DiskImage,
  ) {
    this.virtualSize = layout.virtualSize;
    this.grain = layout.header?.blockSize ?? 2 * 1024 * 1024;
    this.warnings = layout.warnings;
  }

  get path(): string {
    return this.file.path;
  }

  /** Offset in the file of block `b`'s sector bitmap. */
  protected blockOffset(b: number): number {
    return this.layout.bat![b]! * SECTOR;
  }

  /** The sector bitmap of an allocated block (cached). */
  protected bitmap(b: number): Promise<Uint8Array> {
    return this.bitmapCache.get(b, async () => {
      const buf = new Uint8Array(bitmapBytes(this.grain));
      await this.file.read(buf, this.blockOffset(b));
      return buf;
    });
  }

  /** Reads the guest view; the blocks a read spans are read concurrently. */
  async readAt(buf: Uint8Array, offset: number): Promise<void> {
    assertGuestRange('read', offset, buf.length, this.virtualSize);
    const { bat, header } = this.layout;
    if (!bat || !header) return this.file.read(buf, offset);
    await Promise.all(blockPieces(offset, buf.length, header.blockSize).map((p) => this.readInBlock(p.block, buf.subarray(p.at, p.at + p.length), p.inBlock)));
  }

  /** Reads `piece` from block `b` at `inBlock`, sector run by sector run. */
  private async readInBlock(b: number, piece: Uint8Array, inBlock: number): Promise<void> {
    const bs = this.grain;
    if (this.layout.bat![b] === BAT_UNUSED) return this.readBelow(piece, b * bs + inBlock);
    const bitmap = await this.bitmap(b);
    const base = this.blockOffset(b) + bitmapBytes(bs);
    for (const run of bitmapRuns(bitmap, inBlock, inBlock + piece.length)) {
      const sub = piece.subarray(run.start - inBlock, run.end - inBlock);
      if (run.set) await this.readStored(sub, base + run.start);
      else await this.readBelow(sub, b * bs + run.start);
    }
  }

  /** Reads block data stored in this file at `fileOffset`. */
  protected readStored(buf: Uint8Array, fileOffset: number): Promise<void> {
    return this.file.read(buf, fileOffset);
  }

  /** What shows through where this layer holds nothing: the parent, or zeros. */
  private async readBelow(buf: Uint8Array, offset: number): Promise<void> {
    if (this.parent) await this.parent.readAt(buf, offset);
    else buf.fill(0);
  }

  extents(range?: { offset: number; length: number }, own = false): AsyncIterable<Extent> {
    return mergeExtents(this.rawExtents(clampRange(this.virtualSize, range), own));
  }

  private async *rawExtents({ start, end }: { start: number; end: number }, own: boolean): AsyncIterable<Extent> {
    const { bat, header } = this.layout;
    if (!bat || !header) {
      yield* fileExtents(this.file, start, end);
      return;
    }
    const bs = header.blockSize;
    const readAhead = this.bitmapReadAhead(Math.floor(start / bs), Math.ceil(end / bs));
    for (let pos = start; pos < end; ) {
      const b = Math.floor(pos / bs);
      if (bat[b] === BAT_UNUSED) {
        let last = b;
        while (last + 1 < bat.length && (last + 1) * bs < end && bat[last + 1] === BAT_UNUSED) last++;
        const runEnd = Math.min(end, (last + 1) * bs);
        yield* this.below(pos, runEnd - pos, own);
        pos = runEnd;
        continue;
      }
      const blockEnd = Math.min(end, (b + 1) * bs);
      readAhead(b);
      const bitmap = await this.bitmap(b);
      for (const run of bitmapRuns(bitmap, pos - b * bs, blockEnd - b * bs)) {
        const length = run.end - run.start;
        if (run.set) yield { offset: b * bs + run.start, length, kind: 'data', depth: 0 };
        else if (!this.parent) yield { offset: b * bs + run.start, length, kind: 'zero', depth: 0 };
        else yield* this.below(b * bs + run.start, length, own);
      }
      pos = blockEnd;
    }
  }

  /**
   * For a walk over blocks [first, end): a function that, called at block b,
   * starts reading the bitmaps of the next BITMAP_READ_AHEAD allocated blocks
   * (they land in the cache), so the walk waits for one read at a time at most.
   */
  private bitmapReadAhead(first: number, end: number): (b: number) => void {
    const bat = this.layout.bat!;
    const pending: number[] = [];
    let next = first;
    return (b) => {
      while (pending.length > 0 && pending[0]! <= b) pending.shift();
      for (; next < end && pending.length < BITMAP_READ_AHEAD; next++) {
        if (bat[next] === BAT_UNUSED || next <= b) continue;
        pending.push(next);
        this.bitmap(next).catch(() => undefined);
      }
    };
  }

  private async *below(offset: number, length: number, own: boolean): AsyncIterable<Extent> {
    if (this.parent && !own) yield* parentExtents(this.parent, offset, length);
    else yield { offset, length, kind: 'unallocated', depth: 0 };
  }

  describe(): ImageInfo {
    const { footer, header, bat, locators, sizeRule } = this.layout;
    const qemuSize = qemu72Size(footer);
    const warnings = [...this.warnings];
    if (qemuSize !== this.virtualSize) {
      warnings.push(`qemu-img 7.2 reads this image as ${qemuSize} bytes (CHS geometry), not ${this.virtualSize}; use --image-opts driver=vpc,force_size_calc=current_size there`);
    }
    let allocatedBlocks = 0;
    if (bat) for (const e of bat) if (e !== BAT_UNUSED) allocatedBlocks++;
    return {
      filename: this.path,
      format: 'vhd',
      subformat: footer.diskType,
      virtualSize: this.virtualSize,
      fileSize: this.file.size,
      clusterSize: header?.blockSize,
      uuid: formatUuid(footer.fields.uniqueId),
      backingFile: this.parent?.path,
      formatSpecific: {
        ...describeFooter(footer),
        footerSource: this.layout.footerSource,
        sizeRule,
        qemu72VirtualSize: qemuSize,
        ...(header && {
          blockSize: header.blockSize,
          maxTableEntries: header.maxTableEntries,
          tableOffset: header.tableOffset,
          allocatedBlocks,
          headerChecksumValid: header.checksumValid,
        }),
        ...(footer.diskType === 'differencing' && header && {
          parentUuid: formatUuid(header.fields.parentUniqueId),
          parentTimestamp: timestampToIso(header.fields.parentTimestamp),
          parentName: header.parentName,
          parentLocators: locators.map((l) => ({ platform: l.code, path: l.path, offset: l.offset, length: l.length, error: l.error })),
        }),
      },
      warnings,
    };
  }

  check(): Promise<Finding[]> {
    return checkVhd(this.file, this.layout);
  }

  async close(): Promise<void> {
    await this.file.close();
    await this.parent?.close();
  }
}
