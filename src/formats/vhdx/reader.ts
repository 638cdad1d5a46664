import { bitRuns } from '../../util/bit-runs.js';
import { formatGuid } from '../../util/guid.js';
import { BoundedCache } from '../../util/bounded-cache.js';
import type { ByteSource, Range } from '../../io/byte-source.js';
import type { Layer, ParentRef, Run } from '../layer.js';
import type { Finding, ImageInfo } from '../types.js';
import { checkVhdx } from './check.js';
import { MiB, PayloadState } from './constants.js';
import type { VhdxLayout } from './layout.js';

/** Names of payload block states for `info`. */
const STATE_NAMES: Record<number, string> = { 0: 'notPresent', 1: 'undefined', 2: 'zero', 3: 'unmapped', 6: 'fullyPresent', 7: 'partiallyPresent' };

/** Most block bitmaps kept in the read cache: at most 64 KiB each (a 256 MiB block of 512-byte sectors, the largest VHDX block), 64 MiB in all; a fixed bound, so not charged to the metadata budget. */
const BITMAP_CACHE_LIMIT = 1024;

/** One VHDX layer opened for reading ([MS-VHDX] 2.5); `map` gives the block states' meaning. */
export class VhdxLayer implements Layer {
  readonly format = 'vhdx' as const;
  readonly grain: number;
  readonly virtualSize: number;
  readonly warnings: string[];
  private readonly bitmapCache = new BoundedCache<number, Uint8Array>(BITMAP_CACHE_LIMIT);

  constructor(
    readonly path: string,
    readonly layout: VhdxLayout,
    readonly parentRef?: ParentRef,
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
      await this.dataSource.read(buf, this.layout.bat.bitmapMb[Math.floor(b / g.chunkRatio)]! * MiB + (b % g.chunkRatio) * buf.length);
      return buf;
    });
  }

  /** The source block data and bitmaps are read from (a writer's may be growing). */
  protected get dataSource(): ByteSource {
    return this.layout.file;
  }

  /**
   * Runs of [offset, offset+length) by block state: fully present is stored
   * (holes in the file read as zeros); partially present (differencing) is
   * stored where its sector bitmap bit is set and absent elsewhere; not
   * present is absent; undefined, zero and unmapped are zeros.
   */
  async *map({ offset, length }: Range): AsyncIterable<Run> {
    const bs = this.grain;
    const end = offset + length;
    const source = this.dataSource;
    const { states, offsetsMb } = this.layout.bat;
    for (let pos = offset; pos < end; ) {
      const b = Math.floor(pos / bs);
      const state = states[b]!;
      const base = offsetsMb[b]! * MiB - b * bs;
      if (state === PayloadState.partiallyPresent) {
        const blockEnd = Math.min(end, (b + 1) * bs);
        const bitmap = await this.blockBitmap(b);
        for (const run of bitRuns(bitmap, pos - b * bs, blockEnd - b * bs, this.layout.metadata.logicalSectorSize, false)) {
          const at = b * bs + run.start;
          const n = run.end - run.start;
          yield run.set ? { kind: 'stored', offset: at, length: n, source, at: base + at } : { kind: 'absent', offset: at, length: n };
        }
        pos = blockEnd;
        continue;
      }
      // Blocks that continue this one (the same state; for stored blocks, the next bytes of the file) make one run.
      let last = b;
      while ((last + 1) * bs < end && states[last + 1] === state && (state !== PayloadState.fullyPresent || offsetsMb[last + 1]! * MiB - (last + 1) * bs === base)) last++;
      const runEnd = Math.min(end, (last + 1) * bs);
      if (state === PayloadState.fullyPresent) yield { kind: 'stored', offset: pos, length: runEnd - pos, source, at: base + pos, sparse: true };
      else yield { kind: state === PayloadState.notPresent ? 'absent' : 'zero', offset: pos, length: runEnd - pos };
      pos = runEnd;
    }
  }

  files(): string[] {
    return [this.path];
  }

  describe(): ImageInfo {
    const { metadata: m, header, bat, creator, replay } = this.layout;
    const counts: Record<string, number> = {};
    for (const s of bat.states) counts[STATE_NAMES[s]!] = (counts[STATE_NAMES[s]!] ?? 0) + 1;
    return {
      filename: this.path,
      format: 'vhdx',
      // LeaveBlocksAllocated (2.6.2.3) marks a fixed VHDX, whatever its block states: qemu-img's fixed VHDX has every block PAYLOAD_BLOCK_ZERO.
      subformat: m.hasParent ? 'differencing' : m.leaveBlocksAllocated ? 'fixed' : 'dynamic',
      virtualSize: this.virtualSize,
      fileSize: this.layout.file.size,
      clusterSize: m.blockSize,
      logicalSectorSize: m.logicalSectorSize,
      uuid: formatGuid(m.diskId),
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

  close(): Promise<void> {
    return this.layout.file.close();
  }
}
