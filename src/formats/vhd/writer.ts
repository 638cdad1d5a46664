import { DiskImageError } from '../../errors.js';
import { roundUp } from '../../util/checked.js';
import type { ByteSource } from '../../io/byte-source.js';
import type { ImageFile } from '../../io/image-file.js';
import { zeroPastEnd } from '../../io/zero-past-end.js';
import type { Layer, ParentRef, WritableLayer } from '../layer.js';
import { appendedBlockOffset, bitmapBytes, encodeBat } from './bat.js';
import { BAT_UNUSED, FOOTER_SIZE, SECTOR } from './constants.js';
import { encodeFooter } from './footer.js';
import type { VhdLayout } from './layout.js';
import { VhdLayer } from './reader.js';
import { blockPieces } from '../guest-range.js';
import { decodeDynamicHeader, encodeDynamicHeader, type HeaderFields, type LocatorEntry } from './dynamic-header.js';
import { locatorBytes, parentHeaderFields, writeLocators } from './parent-link.js';
import { setBits } from './bitmap.js';
import { ZERO_MIB } from '../../util/zero.js';

/**
 * A differencing child is written in 4 KiB units (8 sectors, one bitmap byte),
 * so every bitmap byte is 0x00 or 0xff: libvhdi (through at least 20210425)
 * misreads bytes that mix set and clear bits (docs/formats/vhd.md).
 */
const CHILD_WRITE_UNIT = 4096;

/**
 * How many blocks ahead of the last one the footer goes when a new block
 * passes it: it then moves once per this many blocks, not once per block
 * (a 512-byte write and a zeroing each time cost dynamic outputs 5-12 %,
 * docs/bench.md). The gap is a hole on sparse file systems, and flush cuts it.
 */
const FOOTER_LEAD_BLOCKS = 32;

/**
 * A VHD open for writing. New blocks are appended past the last one; before
 * any data goes into them the footer moves past them (placeFooter), so
 * the file ends in a valid footer at every moment (libvhdi reads only that
 * one, as Xen's strict libvhd did; docs/chains.md). `flush` then writes sector bitmaps,
 * an fsync, the BAT, an fsync, so the file is a valid image after every flush.
 */
export class WritableVhdLayer extends VhdLayer implements WritableLayer {
  private nextFree: number;
  private readonly dirtyBitmaps = new Map<number, Uint8Array>();
  private batDirty = false;
  /** Blocks allocated since the last flush (their bitmaps are not yet on disk). */
  private readonly newBlocks = new Set<number>();
  /** Where the end footer currently is in the file. */
  private footerAt: number;
  /** Footer moves, one after the other, so the end of the file only moves forward. */
  private footerMove: Promise<void> = Promise.resolve();
  /** The footer moved since the last flush: the copy at offset 0 is rewritten with it. */
  private footerMoved = false;
  /** cutTail has run in this open. */
  private tailCut = false;

  /** The file as block data is read from it: new blocks may lie past its end until flushed. */
  private readonly grown: ByteSource;

  constructor(file: ImageFile, layout: VhdLayout, parentRef?: ParentRef) {
    super(file, layout, parentRef);
    this.grown = zeroPastEnd(file);
    this.nextFree = layout.dataEnd;
    this.footerAt = layout.footerSource === 'end' ? file.size - FOOTER_SIZE : -1;
  }

  protected override bitmap(b: number): Promise<Uint8Array> {
    const dirty = this.dirtyBitmaps.get(b);
    return dirty ? Promise.resolve(dirty) : super.bitmap(b);
  }

  protected override get dataSource(): ByteSource {
    return this.grown;
  }

  /** True for a differencing VHD (its clear bits show the parent). */
  private get differencing(): boolean {
    return this.layout.footer.diskType === 'differencing';
  }

  /** Sectors; 4 KiB units in a differencing child (see CHILD_WRITE_UNIT). */
  get writeUnit(): number {
    return this.differencing ? CHILD_WRITE_UNIT : SECTOR;
  }

  /**
   * Puts the footer past the last block (`nextFree`), unless it is already
   * there. When it has to move, it goes FOOTER_LEAD_BLOCKS blocks ahead (the
   * space between is a hole that later blocks fill; flush trims what is
   * left), written at the new end before the old footer there is zeroed, so
   * the file always ends in a valid footer. The first placement of an open
   * cuts the file back to its last structure first (cutTail).
   */
  private placeFooter(): Promise<void> {
    this.footerMove = this.footerMove.then(async () => {
      if (!this.tailCut) await this.cutTail();
      if (this.footerAt >= this.nextFree) return;
      const old = this.footerAt;
      const end = this.nextFree + FOOTER_LEAD_BLOCKS * (bitmapBytes(this.grain) + this.grain + 4096);
      await this.file.write(encodeFooter(this.layout.footer.fields), end);
      // The old footer now lies in the new space, unreferenced: zeroed, so no stale footer is left mid-file.
      if (old >= this.layout.dataEnd) await this.file.write(ZERO_MIB.subarray(0, FOOTER_SIZE), old);
      this.footerAt = end;
      this.footerMoved = true;
    });
    return this.footerMove;
  }

  /**
   * Makes the file end in a footer right after its last structure: what lay
   * past it (blocks a crashed run left unreferenced, or no end footer at all)
   * is cut off, so new blocks start over zeros. The footer is written at the
   * cut first, fsync, then the file is truncated to it.
   */
  private async cutTail(): Promise<void> {
    const end = this.layout.dataEnd;
    this.tailCut = true;
    if (this.footerAt === end && this.file.size === end + FOOTER_SIZE) return;
    await this.moveFooterBack(end);
  }

  /** Writes the footer at `end` (before the current one), fsync, and cuts the file just past it. */
  private async moveFooterBack(end: number): Promise<void> {
    await this.file.write(encodeFooter(this.layout.footer.fields), end);
    await this.file.sync();
    if (this.file.size > end + FOOTER_SIZE) await this.file.truncate(end + FOOTER_SIZE);
    this.footerAt = end;
    this.footerMoved = true;
  }

  /** Gives block `b` space at the end of the file, its data 4 KiB aligned (synchronously, so concurrent writers never collide). */
  private allocate(b: number): void {
    const bat = this.layout.bat!;
    const at = appendedBlockOffset(this.nextFree, this.grain);
    bat[b] = at / SECTOR;
    this.nextFree = at + bitmapBytes(this.grain) + this.grain;
    this.batDirty = true;
    this.newBlocks.add(b);
    const bitmap = new Uint8Array(bitmapBytes(this.grain));
    if (!this.differencing) bitmap.fill(0xff);
    this.dirtyBitmaps.set(b, bitmap);
  }

  async writeAt(data: Uint8Array, offset: number): Promise<void> {
    const { bat } = this.layout;
    if (!bat) return this.file.write(data, offset);
    const pieces = blockPieces(offset, data.length, this.grain);
    for (const p of pieces) if (bat[p.block] === BAT_UNUSED) this.allocate(p.block);
    // Blocks allocated since the last flush lie past the old end: the footer goes past them first.
    if (pieces.some((p) => this.newBlocks.has(p.block))) await this.placeFooter();
    await Promise.all(pieces.map((p) => this.writeInBlock(p.block, p.inBlock, data.subarray(p.at, p.at + p.length))));
  }

  private async writeInBlock(b: number, inBlock: number, piece: Uint8Array): Promise<void> {
    const base = this.blockOffset(b) + bitmapBytes(this.grain);
    const bitmap = await this.bitmap(b);
    let to = inBlock + piece.length;
    // The disk's last 4 KiB unit may be short: mark its sectors past the end too, keeping the bitmap byte whole.
    if (this.differencing && b * this.grain + to === this.virtualSize) to = Math.min(this.grain, roundUp(to, CHILD_WRITE_UNIT));
    if (setBits(bitmap, inBlock, to)) this.dirtyBitmaps.set(b, bitmap);
    await this.file.write(piece, base + inBlock);
  }

  async writeZeroes(offset: number, length: number): Promise<void> {
    const { bat } = this.layout;
    for (let pos = offset; pos < offset + length; ) {
      const n = Math.min(ZERO_MIB.length, offset + length - pos, bat ? this.grain - (pos % this.grain) : Infinity);
      const unallocated = bat && bat[Math.floor(pos / this.grain)] === BAT_UNUSED;
      if (!(unallocated && !this.differencing)) await this.writeAt(ZERO_MIB.subarray(0, n), pos);
      pos += n;
    }
  }

  /**
   * Makes every write durable and the file a complete image, in an order a
   * power cut cannot turn into wrong data: (0) the footer already past the
   * last new block (placeFooter; also put there if the file did not end in
   * it); (1) data and the bitmaps of new blocks (invisible until the BAT
   * points at them), fsync; (2) bitmaps of blocks that were already in use,
   * and the BAT, fsync; (3) a footer placed ahead of the last block is
   * written right after it, fsync, and the file cut there; (4) when the
   * footer moved, its copy at offset 0, fsync. At every point the file ends
   * in a valid footer.
   */
  async flush(): Promise<void> {
    const { bat, header, footer } = this.layout;
    if (!bat || !header) {
      await this.file.sync();
      return;
    }
    await this.placeFooter();
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
    await this.footerMove;
    if (this.footerAt > this.nextFree) await this.moveFooterBack(this.nextFree);
    if (this.footerMoved) {
      await this.file.write(encodeFooter(footer.fields), 0);
      this.footerMoved = false;
      await this.file.sync();
    }
  }

  /**
   * Points this differencing child at another VHD parent (rebase). Order: the
   * footer moved past room for the new locator payloads, the payloads there,
   * fsync; the header with the new
   * parent's UUID, time stamp, name and locators, fsync; the footers, fsync.
   * The header spans two sectors; if a power cut tears it, its name (sector 0,
   * with the UUID) or its locators (sector 1) still lead to a parent whose UUID
   * matches, because the resolver tries every candidate. Callers make both
   * parents' views equal under this child first (safe rebase), so either
   * parent gives the same guest view.
   */
  async setParent(parent: Layer): Promise<void> {
    const header = this.layout.header;
    if (this.layout.footer.diskType !== 'differencing' || !header) {
      throw new DiskImageError('UNSUPPORTED', `${this.path} is a ${this.layout.footer.diskType} VHD; only a differencing VHD has a parent`);
    }
    if (!(parent instanceof VhdLayer)) throw new DiskImageError('UNSUPPORTED', `a VHD's parent must be a VHD, not ${parent.format}`);
    await this.flush();
    const at = this.nextFree;
    this.nextFree += locatorBytes(this.path, parent.path);
    await this.placeFooter();
    const locators = await writeLocators(this.file, this.path, parent.path, at);
    await this.file.sync();
    await this.rewriteHeader({ ...header.fields, ...parentHeaderFields(parent) }, locators);
    await this.flush();
  }

  /**
   * Rewrites the dynamic header with the parent's current modification time
   * (nothing when it already holds it). Only the time stamp and the checksum
   * change; the header's second sector is written with the same bytes, so a
   * torn write leaves either header, both valid.
   */
  async refreshParentLink(parent: Layer): Promise<void> {
    const header = this.layout.header;
    if (this.layout.footer.diskType !== 'differencing' || !header || !(parent instanceof VhdLayer)) return;
    const { parentTimestamp } = parentHeaderFields(parent);
    if (parentTimestamp === header.fields.parentTimestamp) return;
    await this.rewriteHeader({ ...header.fields, parentTimestamp }, header.locators);
  }

  /** Writes the dynamic header with `fields` and `locators` (checksum recomputed), fsync, and keeps it as the layout's header. */
  private async rewriteHeader(fields: HeaderFields, locators: LocatorEntry[]): Promise<void> {
    const headerAt = this.layout.footer.dataOffset!;
    const encoded = encodeDynamicHeader(fields, locators);
    await this.file.write(encoded, headerAt);
    await this.file.sync();
    this.layout.header = decodeDynamicHeader(encoded, headerAt);
  }
}
