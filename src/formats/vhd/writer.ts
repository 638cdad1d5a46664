import { DiskImageError } from '../../errors.js';
import type { ImageFile } from '../../io/image-file.js';
import type { DiskImage, WritableDiskImage } from '../types.js';
import { bitmapBytes, encodeBat } from './bat.js';
import { BAT_UNUSED, FOOTER_SIZE, SECTOR } from './constants.js';
import { encodeFooter } from './footer.js';
import type { VhdLayout } from './layout.js';
import { VhdImage } from './reader.js';
import { setBits } from './bitmap.js';

const ZEROES = new Uint8Array(1024 * 1024);

/**
 * A VHD open for writing. New blocks are appended where the end footer
 * stood; `flush` then writes sector bitmaps, the BAT, an fsync, and the
 * footers, so the file on disk is a valid image after every flush.
 */
export class WritableVhd extends VhdImage implements WritableDiskImage {
  private nextFree: number;
  private readonly dirtyBitmaps = new Map<number, Uint8Array>();
  private batDirty = false;
  /** Blocks allocated since the last flush (their bitmaps are not yet on disk). */
  private readonly newBlocks = new Set<number>();
  /** Where the end footer currently is in the file. */
  private footerAt: number;

  constructor(file: ImageFile, layout: VhdLayout, parent?: DiskImage) {
    super(file, layout, parent);
    const afterFooter = layout.footerSource === 'end' ? file.size - FOOTER_SIZE : Math.ceil(file.size / SECTOR) * SECTOR;
    this.nextFree = Math.max(layout.dataEnd, afterFooter);
    this.footerAt = layout.footerSource === 'end' ? file.size - FOOTER_SIZE : -1;
  }

  protected override bitmap(b: number): Promise<Uint8Array> {
    const dirty = this.dirtyBitmaps.get(b);
    return dirty ? Promise.resolve(dirty) : super.bitmap(b);
  }

  /** Gives block `b` space at the end of the file (synchronously, so concurrent writers never collide). */
  private allocate(b: number): void {
    const bat = this.layout.bat!;
    bat[b] = this.nextFree / SECTOR;
    this.nextFree += bitmapBytes(this.grain) + this.grain;
    this.batDirty = true;
    this.newBlocks.add(b);
    const bitmap = new Uint8Array(bitmapBytes(this.grain));
    if (!this.parent) bitmap.fill(0xff);
    this.dirtyBitmaps.set(b, bitmap);
  }

  async writeAt(data: Uint8Array, offset: number): Promise<void> {
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + data.length > this.virtualSize) {
      throw new DiskImageError('OUT_OF_RANGE', `write of ${data.length} bytes at ${offset} is outside the ${this.virtualSize}-byte disk`, { offset });
    }
    if (offset % SECTOR !== 0 || data.length % SECTOR !== 0) return this.writeUnaligned(data, offset);
    const { bat } = this.layout;
    if (!bat) return this.file.write(data, offset);
    const bs = this.grain;
    const end = offset + data.length;
    const pieces: Promise<void>[] = [];
    for (let pos = offset; pos < end; ) {
      const b = Math.floor(pos / bs);
      const inBlock = pos - b * bs;
      const n = Math.min(bs - inBlock, end - pos);
      if (bat[b] === BAT_UNUSED) this.allocate(b);
      pieces.push(this.writeInBlock(b, inBlock, data.subarray(pos - offset, pos - offset + n)));
      pos += n;
    }
    await Promise.all(pieces);
  }

  private async writeInBlock(b: number, inBlock: number, piece: Uint8Array): Promise<void> {
    const base = this.blockOffset(b) + bitmapBytes(this.grain);
    const bitmap = await this.bitmap(b);
    if (setBits(bitmap, inBlock, inBlock + piece.length)) this.dirtyBitmaps.set(b, bitmap);
    await this.file.write(piece, base + inBlock);
  }

  /** Read-modify-write of the whole sectors around an unaligned write. */
  private async writeUnaligned(data: Uint8Array, offset: number): Promise<void> {
    const start = Math.floor(offset / SECTOR) * SECTOR;
    const end = Math.ceil((offset + data.length) / SECTOR) * SECTOR;
    const buf = new Uint8Array(end - start);
    await this.readAt(buf, start);
    buf.set(data, offset - start);
    await this.writeAt(buf, start);
  }

  async writeZeroes(offset: number, length: number): Promise<void> {
    const { bat } = this.layout;
    for (let pos = offset; pos < offset + length; ) {
      const n = Math.min(ZEROES.length, offset + length - pos, bat ? this.grain - (pos % this.grain) : Infinity);
      const unallocated = bat && bat[Math.floor(pos / this.grain)] === BAT_UNUSED;
      if (!(unallocated && !this.parent)) await this.writeAt(ZEROES.subarray(0, n), pos);
      pos += n;
    }
  }

  /**
   * Makes every write durable and the file a complete image, in an order a
   * power cut cannot turn into wrong data: (1) data and the bitmaps of new
   * blocks (invisible until the BAT points at them), fsync; (2) bitmaps of
   * blocks that were already in use, and the BAT, fsync; (3) the end footer
   * after the last block and the copy at offset 0, fsync. Between (1) and (3)
   * the end footer may be overwritten by a new block; readers then use the
   * copy at offset 0, which the spec keeps for exactly that.
   */
  async flush(): Promise<void> {
    const { bat, header, footer } = this.layout;
    if (!bat || !header) {
      await this.file.sync();
      return;
    }
    const existing: [number, Uint8Array][] = [];
    for (const [b, bitmap] of this.dirtyBitmaps) {
      if (this.newBlocks.has(b)) await this.file.write(bitmap, this.blockOffset(b));
      else existing.push([b, bitmap]);
    }
    await this.file.sync();
    for (const [b, bitmap] of existing) await this.file.write(bitmap, this.blockOffset(b));
    if (this.batDirty) await this.file.write(encodeBat(bat, bat.length * 4), header.tableOffset);
    this.dirtyBitmaps.clear();
    this.batDirty = false;
    if (this.newBlocks.size > 0 || existing.length > 0) await this.file.sync();
    this.newBlocks.clear();
    if (this.footerAt !== this.nextFree || this.file.size !== this.nextFree + FOOTER_SIZE) {
      const encoded = encodeFooter(footer.fields);
      await this.file.write(encoded, this.nextFree);
      if (this.file.size > this.nextFree + FOOTER_SIZE) await this.file.truncate(this.nextFree + FOOTER_SIZE);
      await this.file.write(encoded, 0);
      this.footerAt = this.nextFree;
      await this.file.sync();
    }
  }
}
