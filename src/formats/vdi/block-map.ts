import { DiskImageError } from '../../errors.js';
import type { ByteSource, Range } from '../../io/byte-source.js';
import type { ImageFile } from '../../io/image-file.js';
import type { MetadataBudget } from '../../util/metadata-budget.js';
import type { Run } from '../layer.js';
import { BLOCK_FREE, BLOCK_ZERO } from './constants.js';
import type { VdiHeader } from './header.js';

/**
 * The block array of a VDI image (VDICore.h, "Block 'pointer'"): one u32 per
 * guest block, VDI_IMAGE_BLOCK_FREE (not in the file: the parent's, or
 * zeros), VDI_IMAGE_BLOCK_ZERO (zeros), or the index of a data block stored
 * at offData + index × (cbBlock + cbBlockExtra) + cbBlockExtra.
 */
export class BlockMap {
  private constructor(
    readonly entries: Uint32Array,
    readonly header: VdiHeader,
    /** Where guest data is read: the file, zeros past its end. */
    readonly data: ByteSource,
    /** Bytes from one data block's start to the next's (cbBlock + cbBlockExtra). */
    readonly stride: number,
  ) {}

  /**
   * Reads the block array of `file`; throws CORRUPT when it runs past the end
   * of the file, or when a data block starts at or past the end (a block cut
   * short by the end of the file reads zeros past it, with a warning). The
   * array is charged to `budget` before it is read.
   */
  static async read(file: ImageFile, header: VdiHeader, data: ByteSource, warnings: string[], budget: MetadataBudget): Promise<BlockMap> {
    const bytes = header.blocks * 4;
    if (header.blocksOffset + bytes > file.size) {
      throw new DiskImageError('CORRUPT', `${file.path}: VDI block array (${header.blocks} entries at ${header.blocksOffset}) runs past the end of the file (${file.size} bytes)`, { path: file.path, field: 'offBlocks', value: header.blocksOffset });
    }
    budget.charge(bytes, 'VDI block array');
    const raw = new Uint8Array(bytes);
    await file.read(raw, header.blocksOffset);
    const view = new DataView(raw.buffer);
    const entries = new Uint32Array(header.blocks);
    for (let i = 0; i < header.blocks; i++) entries[i] = view.getUint32(i * 4, true);
    const map = new BlockMap(entries, header, data, header.blockSize + header.blockExtra);
    map.checkPlacement(file, warnings);
    return map;
  }

  /** True when `entry` points at a data block ("IS_VDI_IMAGE_BLOCK_ALLOCATED"). */
  static allocated(entry: number): boolean {
    return entry < BLOCK_ZERO;
  }

  /** How many of `entries` point at data blocks. */
  static countAllocated(entries: Uint32Array): number {
    let n = 0;
    for (const e of entries) if (BlockMap.allocated(e)) n++;
    return n;
  }

  /** One past the highest data block `entries` point at: where the next new data block goes. */
  static nextIndex(entries: Uint32Array): number {
    let next = 0;
    for (const e of entries) if (BlockMap.allocated(e) && e >= next) next = e + 1;
    return next;
  }

  /** File offset of the guest data of data block `index`. */
  dataAt(index: number): number {
    return this.header.dataOffset + index * this.stride + this.header.blockExtra;
  }

  private checkPlacement(file: ImageFile, warnings: string[]): void {
    let short = 0;
    for (let i = 0; i < this.entries.length; i++) {
      const e = this.entries[i]!;
      if (!BlockMap.allocated(e)) continue;
      const at = this.dataAt(e);
      if (at >= file.size) {
        throw new DiskImageError('CORRUPT', `${file.path}: VDI block ${i} points at data block ${e}, at byte ${at}, past the end of the file (${file.size} bytes)`, { path: file.path, field: `block ${i}`, value: e, offset: at });
      }
      if (at + this.header.blockSize > file.size) short++;
    }
    if (short > 0) warnings.push(`${short} data block(s) run past the end of the file; the missing part reads as zeros`);
  }

  /** The runs of `range` (inside the disk), one per block piece, in guest order. */
  async *map(range: Range): AsyncIterable<Run> {
    const size = this.header.blockSize;
    let offset = range.offset;
    const end = range.offset + range.length;
    while (offset < end) {
      const block = Math.floor(offset / size);
      const within = offset - block * size;
      const length = Math.min(size - within, end - offset);
      const e = this.entries[block]!;
      if (e === BLOCK_FREE) yield { kind: 'absent', offset, length };
      else if (e === BLOCK_ZERO) yield { kind: 'zero', offset, length };
      else yield { kind: 'stored', offset, length, source: this.data, at: this.dataAt(e) + within, sparse: true };
      offset += length;
    }
  }
}
