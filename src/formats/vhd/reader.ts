import type { ByteSource, Range } from '../../io/byte-source.js';
import type { ImageFile } from '../../io/image-file.js';
import { formatUuid } from '../../util/uuid.js';
import { BoundedCache } from '../../util/bounded-cache.js';
import type { Layer, ParentRef, Run } from '../layer.js';
import type { Finding, ImageInfo } from '../types.js';
import { bitmapBytes } from './bat.js';
import { bitmapRuns } from './bitmap.js';
import { checkVhd } from './check.js';
import { BAT_UNUSED, SECTOR } from './constants.js';
import { describeFooter, timestampToIso } from './footer.js';
import type { VhdLayout } from './layout.js';
import { qemu72Size } from './size-rule.js';

/**
 * Bytes of sector bitmaps kept in the read cache: 4096 bitmaps of 2 MiB
 * blocks (512 bytes each), and at least 16 bitmaps whatever the block size
 * (a 2 GiB block's is 512 KiB), so the cache stays under 8 MiB however
 * large a hostile header makes the blocks; a fixed bound, so not charged to
 * the metadata budget.
 */
const BITMAP_CACHE_BYTES = 2 * 1024 * 1024;

/** Sector bitmaps read ahead, concurrently, while walking extents (each is a small random read). */
const BITMAP_READ_AHEAD = 16;

/** One fixed, dynamic or differencing VHD layer, opened for reading. */
export class VhdLayer implements Layer {
  readonly format = 'vhd' as const;
  readonly grain: number;
  readonly virtualSize: number;
  readonly warnings: string[];
  private readonly bitmapCache: BoundedCache<number, Uint8Array>;

  constructor(
    readonly file: ImageFile,
    readonly layout: VhdLayout,
    readonly parentRef?: ParentRef,
  ) {
    this.virtualSize = layout.virtualSize;
    this.grain = layout.header?.blockSize ?? 2 * 1024 * 1024;
    this.bitmapCache = new BoundedCache(Math.max(16, Math.floor(BITMAP_CACHE_BYTES / bitmapBytes(this.grain))));
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

  /** The source block data is read from (a writer's may be growing). */
  protected get dataSource(): ByteSource {
    return this.file;
  }

  /**
   * Runs of [offset, offset+length): a fixed VHD stores the disk at the start
   * of the file; a dynamic or differencing one by block, through each block's
   * sector bitmap. A clear bit is absent in a differencing disk (its parent
   * shows through) and zeros in a dynamic one (as the spec says; see
   * docs/formats/vhd.md); an unallocated block is absent.
   */
  async *map({ offset, length }: Range): AsyncIterable<Run> {
    const { bat, header } = this.layout;
    const source = this.dataSource;
    if (!bat || !header) {
      yield { kind: 'stored', offset, length, source, at: offset, sparse: true };
      return;
    }
    const bs = header.blockSize;
    const end = offset + length;
    const clear = this.layout.footer.diskType === 'differencing' ? 'absent' : 'zero';
    const readAhead = this.bitmapReadAhead(Math.floor(offset / bs), Math.ceil(end / bs));
    for (let pos = offset; pos < end; ) {
      const b = Math.floor(pos / bs);
      if (bat[b] === BAT_UNUSED) {
        let last = b;
        while (last + 1 < bat.length && (last + 1) * bs < end && bat[last + 1] === BAT_UNUSED) last++;
        const runEnd = Math.min(end, (last + 1) * bs);
        yield { kind: 'absent', offset: pos, length: runEnd - pos };
        pos = runEnd;
        continue;
      }
      const blockEnd = Math.min(end, (b + 1) * bs);
      readAhead(b);
      const bitmap = await this.bitmap(b);
      const data = this.blockOffset(b) + bitmapBytes(bs);
      for (const run of bitmapRuns(bitmap, pos - b * bs, blockEnd - b * bs)) {
        const at = b * bs + run.start;
        const n = run.end - run.start;
        yield run.set ? { kind: 'stored', offset: at, length: n, source, at: data + run.start } : { kind: clear, offset: at, length: n };
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

  files(): string[] {
    return [this.path];
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

  close(): Promise<void> {
    return this.file.close();
  }
}
