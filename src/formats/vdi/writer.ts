import type { ImageFile } from '../../io/image-file.js';
import { ZERO_MIB } from '../../util/zero.js';
import { blockPieces } from '../guest-range.js';
import { DiskImageError } from '../../errors.js';
import type { Layer, ParentRef, WritableLayer } from '../layer.js';
import { BlockMap } from './block-map.js';
import { BLOCK_FREE, BLOCK_ZERO, BLOCKS_ALLOCATED_AT, PRE_HEADER_SIZE, SECTOR } from './constants.js';
import type { VdiHeader } from './header.js';
import { VdiLayer } from './reader.js';


/** Byte offset of VDIHEADER1.uuidLinkage in the file (pre-header + 352); uuidParentModify follows it. */
const LINKAGE_AT = PRE_HEADER_SIZE + 352;

/**
 * A VDI open for writing. A new data block takes the next index after the
 * last one in use, so it lies at the end of the file; its block pointer is
 * set in memory at once (reads see it) and written by `flush`, after the
 * data is durable: a power cut leaves at worst data blocks no pointer uses
 * past the end, which the next writable open cuts off (and `check` reports
 * as LEAKED_BLOCKS meanwhile), never a pointer to unwritten data.
 *
 * A base writes sectors, and the rest of a new block reads as zeros (it
 * lies in a hole past the old end). A differencing image writes whole
 * blocks: a block is the parent's (BLOCK_FREE) or entirely its own, so
 * chain/ reads the parent's part of a partly written block and writes it
 * whole (VirtualBox does the same, VDIHDDCore.cpp vdiWrite).
 */
export class WritableVdiLayer extends VdiLayer implements WritableLayer {
  private nextIndex: number;
  private readonly dirty = new Set<number>();
  private cut = false;

  constructor(file: ImageFile, header: VdiHeader, blocks: BlockMap, warnings: string[], parentRef?: ParentRef) {
    super(file, header, blocks, warnings, parentRef);
    this.nextIndex = BlockMap.nextIndex(blocks.entries);
  }

  get writeUnit(): number {
    return this.header.type === 'diff' ? this.header.blockSize : SECTOR;
  }

  /** The file's end once every data block in use is written: the cut point for leftovers of a crashed run. */
  private get dataEnd(): number {
    return this.header.dataOffset + this.nextIndex * this.blocks.stride;
  }

  /** Gives guest block `b` the next data block (synchronously, so concurrent writers never collide). */
  private allocate(b: number): void {
    this.blocks.entries[b] = this.nextIndex++;
    this.dirty.add(b);
  }

  async writeAt(data: Uint8Array, offset: number): Promise<void> {
    if (!this.cut) await this.cutTail();
    const pieces = blockPieces(offset, data.length, this.grain);
    for (const p of pieces) if (!BlockMap.allocated(this.blocks.entries[p.block]!)) this.allocate(p.block);
    await Promise.all(pieces.map((p) => this.file.write(data.subarray(p.at, p.at + p.length), this.blocks.dataAt(this.blocks.entries[p.block]!) + p.inBlock)));
  }

  /**
   * Blocks without data already read as zeros in a base, and BLOCK_ZERO
   * blocks everywhere: they are left alone. A whole block a differencing
   * image takes from its parent becomes BLOCK_ZERO (it hides the parent).
   * Zeros are written into blocks with data.
   */
  async writeZeroes(offset: number, length: number): Promise<void> {
    for (const p of blockPieces(offset, length, this.grain)) {
      const e = this.blocks.entries[p.block]!;
      if (!BlockMap.allocated(e) && (this.header.type !== 'diff' || e === BLOCK_ZERO)) continue;
      const start = p.block * this.grain + p.inBlock;
      if (e === BLOCK_FREE && p.inBlock === 0 && (p.length === this.grain || start + p.length === this.virtualSize)) {
        this.blocks.entries[p.block] = BLOCK_ZERO;
        this.dirty.add(p.block);
        continue;
      }
      for (let at = 0; at < p.length; at += ZERO_MIB.length) await this.writeAt(ZERO_MIB.subarray(0, Math.min(ZERO_MIB.length, p.length - at)), start + at);
    }
  }

  /** Cuts data blocks no pointer uses off the end of the file (left by a crashed run), so new blocks start over zeros. */
  private async cutTail(): Promise<void> {
    this.cut = true;
    if (this.file.size > this.dataEnd) {
      await this.file.truncate(this.dataEnd);
      await this.file.sync();
    }
  }

  /**
   * Makes every write durable and the file a complete image: (1) the file
   * grown to its last data block's end (a block written only in part would
   * otherwise end early), data, fsync; (2) the block array from the first to
   * the last changed pointer, and cBlocksAllocated, fsync.
   */
  async flush(): Promise<void> {
    if (this.dirty.size === 0) return this.file.sync();
    if (this.file.size < this.dataEnd) await this.file.truncate(this.dataEnd);
    await this.file.sync();
    let first = Infinity;
    let last = -1;
    for (const b of this.dirty) {
      first = Math.min(first, b);
      last = Math.max(last, b);
    }
    this.dirty.clear();
    const slice = new Uint8Array((last - first + 1) * 4);
    const view = new DataView(slice.buffer);
    for (let b = first; b <= last; b++) view.setUint32((b - first) * 4, this.blocks.entries[b]!, true);
    await this.file.write(slice, this.header.blocksOffset + first * 4);
    const allocated = BlockMap.countAllocated(this.blocks.entries);
    const count = new Uint8Array(4);
    new DataView(count.buffer).setUint32(0, allocated, true);
    await this.file.write(count, BLOCKS_ALLOCATED_AT);
    this.header.blocksAllocated = allocated;
    await this.file.sync();
  }

  /**
   * Points this differencing image at another VDI (rebase): uuidLinkage
   * and uuidParentModify become the new parent's uuidCreate and uuidModify,
   * in one 32-byte write inside the first sector, then fsync. A torn write
   * cannot mix them: both fields lie in one sector.
   */
  async setParent(parent: Layer): Promise<void> {
    if (this.header.type !== 'diff') throw new DiskImageError('UNSUPPORTED', `${this.path} is a ${this.header.type} VDI; only a differencing VDI has a parent`);
    if (!(parent instanceof VdiLayer)) throw new DiskImageError('UNSUPPORTED', `a VDI's parent must be a VDI, not ${parent.format}`);
    await this.flush();
    const link = new Uint8Array(32);
    link.set(parent.header.uuidCreate, 0);
    link.set(parent.header.uuidModify, 16);
    await this.file.write(link, LINKAGE_AT);
    await this.file.sync();
    this.header.uuidLinkage = parent.header.uuidCreate;
    this.header.uuidParentModify = parent.header.uuidModify;
  }
}
