import { bitRuns } from '../../util/bit-runs.js';
import { formatGuid } from '../../util/guid.js';
import { BoundedCache } from '../../util/bounded-cache.js';
import { clampRange, fileExtents, mergeExtents, parentExtents } from '../extents.js';
import { assertGuestRange, blockPieces } from '../guest-range.js';
import type { DiskImage, Extent, Finding, ImageInfo } from '../types.js';
import { checkVhdx } from './check.js';
import { MiB, PayloadState } from './constants.js';
import type { VhdxLayout } from './layout.js';

/** Names of payload block states for `info`. */
const STATE_NAMES: Record<number, string> = { 0: 'notPresent', 1: 'undefined', 2: 'zero', 3: 'unmapped', 6: 'fullyPresent', 7: 'partiallyPresent' };

/** Most block bitmaps kept in the read cache. */
const BITMAP_CACHE_LIMIT = 1024;

/**
 * A VHDX opened for reading ([MS-VHDX] 2.5). Block states: fully present
 * reads from the file; partially present (differencing) by its sector bitmap,
 * clear bits from the parent; not present reads the parent in a differencing
 * disk and zeros otherwise; undefined, zero and unmapped read as zeros.
 */
export class VhdxImage implements DiskImage {
  readonly format = 'vhdx' as const;
  readonly grain: number;
  readonly virtualSize: number;
  readonly warnings: string[];
  private readonly bitmapCache = new BoundedCache<number, Uint8Array>(BITMAP_CACHE_LIMIT);

  constructor(
    readonly path: string,
    readonly layout: VhdxLayout,
    readonly parent?: DiskImage,
  ) {
    this.grain = layout.metadata.blockSize;
    this.virtualSize = layout.metadata.virtualSize;
    this.warnings = layout.warnings;
  }

  /** Bytes of sector bitmap that cover one block. */
  private get blockBitmapBytes(): number {
    return this.grain / this.layout.metadata.logicalSectorSize / 8;
  }

  /** The part of its chunk's sector bitmap that covers block `b` (cached). */
  protected blockBitmap(b: number): Promise<Uint8Array> {
    return this.bitmapCache.get(b, async () => {
      const g = this.layout.bat.geometry;
      const buf = new Uint8Array(this.blockBitmapBytes);
      await this.readStored(buf, this.layout.bat.bitmapMb[Math.floor(b / g.chunkRatio)]! * MiB + (b % g.chunkRatio) * buf.length);
      return buf;
    });
  }

  async readAt(buf: Uint8Array, offset: number): Promise<void> {
    assertGuestRange('read', offset, buf.length, this.virtualSize);
    await Promise.all(blockPieces(offset, buf.length, this.grain).map((p) => this.readInBlock(p.block, buf.subarray(p.at, p.at + p.length), p.inBlock)));
  }

  private async readInBlock(b: number, piece: Uint8Array, inBlock: number): Promise<void> {
    const state = this.layout.bat.states[b]!;
    const base = this.layout.bat.offsetsMb[b]! * MiB;
    if (state === PayloadState.fullyPresent) return this.readStored(piece, base + inBlock);
    if (state === PayloadState.partiallyPresent) {
      const bitmap = await this.blockBitmap(b);
      for (const run of bitRuns(bitmap, inBlock, inBlock + piece.length, this.layout.metadata.logicalSectorSize, false)) {
        const sub = piece.subarray(run.start - inBlock, run.end - inBlock);
        if (run.set) await this.readStored(sub, base + run.start);
        else await this.readParent(sub, b * this.grain + run.start);
      }
      return;
    }
    if (state === PayloadState.notPresent && this.parent) return this.readParent(piece, b * this.grain + inBlock);
    piece.fill(0);
  }

  /** Reads block data stored in the file at `fileOffset`. */
  protected readStored(buf: Uint8Array, fileOffset: number): Promise<void> {
    return this.layout.file.read(buf, fileOffset);
  }

  private async readParent(buf: Uint8Array, offset: number): Promise<void> {
    if (this.parent) await this.parent.readAt(buf, offset);
    else buf.fill(0);
  }

  extents(range?: { offset: number; length: number }, own = false): AsyncIterable<Extent> {
    return mergeExtents(this.rawExtents(clampRange(this.virtualSize, range), own));
  }

  private async *rawExtents({ start, end }: { start: number; end: number }, own: boolean): AsyncIterable<Extent> {
    const bs = this.grain;
    const below = (offset: number, length: number): AsyncIterable<Extent> | Extent[] =>
      this.parent && !own ? parentExtents(this.parent, offset, length) : [{ offset, length, kind: 'unallocated', depth: 0 }];
    for (let pos = start; pos < end; ) {
      const b = Math.floor(pos / bs);
      const blockEnd = Math.min(end, (b + 1) * bs);
      const state = this.layout.bat.states[b]!;
      if (state === PayloadState.fullyPresent) yield* this.storedExtents(b, pos, blockEnd);
      else if (state === PayloadState.partiallyPresent) {
        const bitmap = await this.blockBitmap(b);
        for (const run of bitRuns(bitmap, pos - b * bs, blockEnd - b * bs, this.layout.metadata.logicalSectorSize, false)) {
          if (run.set) yield { offset: b * bs + run.start, length: run.end - run.start, kind: 'data', depth: 0 };
          else yield* below(b * bs + run.start, run.end - run.start);
        }
      } else if (state === PayloadState.notPresent) {
        if (this.parent) yield* below(pos, blockEnd - pos);
        else yield { offset: pos, length: blockEnd - pos, kind: 'unallocated', depth: 0 };
      } else yield { offset: pos, length: blockEnd - pos, kind: 'zero', depth: 0 };
      pos = blockEnd;
    }
  }

  /**
   * Extents of a fully present block: its data runs in the file, and zeros
   * where the file has holes (a sparse VHDX file never read them back).
   */
  private *storedExtents(b: number, pos: number, end: number): Iterable<Extent> {
    const delta = this.layout.bat.offsetsMb[b]! * MiB - b * this.grain;
    for (const e of fileExtents(this.layout.file, pos + delta, end + delta)) yield { ...e, offset: e.offset - delta };
  }

  describe(): ImageInfo {
    const { metadata: m, header, bat, creator, replay } = this.layout;
    const counts: Record<string, number> = {};
    for (const s of bat.states) counts[STATE_NAMES[s]!] = (counts[STATE_NAMES[s]!] ?? 0) + 1;
    const allPresent = (counts.fullyPresent ?? 0) === bat.states.length;
    return {
      filename: this.path,
      format: 'vhdx',
      subformat: m.hasParent ? 'differencing' : m.leaveBlocksAllocated && allPresent ? 'fixed' : 'dynamic',
      virtualSize: this.virtualSize,
      fileSize: this.layout.file.size,
      clusterSize: m.blockSize,
      uuid: formatGuid(m.diskId),
      backingFile: this.parent?.path,
      formatSpecific: {
        creator,
        logicalSectorSize: m.logicalSectorSize,
        physicalSectorSize: m.physicalSectorSize,
        blockSize: m.blockSize,
        leaveBlocksAllocated: m.leaveBlocksAllocated,
        headerSequenceNumber: header.sequenceNumber.toString(),
        fileWriteGuid: formatGuid(header.fields.fileWriteGuid),
        dataWriteGuid: formatGuid(header.fields.dataWriteGuid),
        logGuid: formatGuid(header.fields.logGuid),
        logEntriesAppliedInMemory: replay?.entries ?? 0,
        blockStates: counts,
        ...(m.parentLocator && { parentLocator: Object.fromEntries(m.parentLocator) }),
      },
      warnings: [...this.warnings],
    };
  }

  check(): Promise<Finding[]> {
    return checkVhdx(this.layout);
  }

  async close(): Promise<void> {
    await this.layout.file.close();
    await this.parent?.close();
  }
}
