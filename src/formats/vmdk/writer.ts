import { DiskImageError } from '../../errors.js';
import type { ImageFile } from '../../io/image-file.js';
import { roundUp } from '../../util/checked.js';
import { ZERO_MIB } from '../../util/zero.js';
import { blockPieces } from '../guest-range.js';
import type { Layer, ParentRef, WritableLayer } from '../layer.js';
import { GTE_ZEROED, SECTOR } from './constants.js';
import { descriptorText } from './descriptor.js';
import { parentHint, withParent } from './descriptor-writer.js';
import type { VmdkParts } from './extents.js';
import { encodeTable, type GrainDirectory } from './grain-directory.js';
import { VmdkLayer } from './reader.js';
import type { SparseExtent } from './sparse-extent.js';

/** How far a writer has allocated its file, shared with the source the extent reads through (zeroPastEnd). */
export interface Reach {
  bytes: number;
}

/**
 * A monolithic sparse VMDK open for writing: one uncompressed hosted sparse
 * extent whose grain tables all exist (as vdisk, VMware and qemu-img create
 * them), so only grain table entries change. New grains are appended at the
 * end of the file; a partly written grain reads as zeros elsewhere (the
 * file past its end is a hole), except in a delta, which is written in whole
 * grains (chain/ reads the rest from the parent). `flush` stores data, fsync,
 * then the changed tables in the redundant and the primary directory, fsync:
 * the file is a valid image after every flush, and a crash before leaves
 * the old tables pointing at old grains.
 */
export class WritableVmdkLayer extends VmdkLayer implements WritableLayer {
  private readonly sparse: SparseExtent;
  private readonly directories: GrainDirectory[];

  constructor(
    parts: VmdkParts,
    parentRef: ParentRef | undefined,
    private readonly file: ImageFile,
    private readonly reach: Reach,
  ) {
    super(parts, parentRef);
    const extent = parts.extents[0];
    if (parts.extents.length !== 1 || extent?.kind !== 'sparse') throw new DiskImageError('UNSUPPORTED', `${parts.path}: vdisk writes into monolithic sparse VMDKs only`, { path: parts.path });
    this.sparse = extent.sparse;
    this.directories = [extent.sparse.redundant, extent.sparse.primary].filter((d): d is GrainDirectory => d !== undefined);
  }

  /** Sectors; whole grains in a delta, whose grains must hold the parent's bytes around a write. */
  get writeUnit(): number {
    return this.parentRef ? this.grain : SECTOR;
  }

  /** Grain table `g`, as the copy this writer changes (made pending on first use). */
  private async editable(g: number): Promise<Uint32Array> {
    const perTable = this.sparse.header.numGTEsPerGT;
    const table = await this.sparse.tableOf(g * perTable);
    const pending = this.sparse.pendingTables.get(g);
    if (pending) return pending;
    const copy = table ? table.slice() : new Uint32Array(perTable);
    this.sparse.pendingTables.set(g, copy);
    return copy;
  }

  /** The file offset of grain `grain`, appending a new grain when it has none (synchronously after the table is at hand, so concurrent writers never both allocate). */
  private async grainAt(grain: number, allocate: boolean): Promise<number | undefined> {
    const perTable = this.sparse.header.numGTEsPerGT;
    const table = await this.editable(Math.floor(grain / perTable));
    const i = grain % perTable;
    if (table[i]! > GTE_ZEROED) return table[i]! * SECTOR;
    if (!allocate) return undefined;
    const at = this.reach.bytes;
    table[i] = at / SECTOR;
    this.reach.bytes = at + this.grain;
    return at;
  }

  async writeAt(data: Uint8Array, offset: number): Promise<void> {
    await Promise.all(
      blockPieces(offset, data.length, this.grain).map(async (p) => {
        const at = await this.grainAt(p.block, true);
        await this.file.write(data.subarray(p.at, p.at + p.length), at! + p.inBlock);
      }),
    );
  }

  /** Zeroes grains that hold data by writing zeros into them; grains without data already read as zeros, unless a parent shows through (then zeros are written). */
  async writeZeroes(offset: number, length: number): Promise<void> {
    for (const p of blockPieces(offset, length, this.grain)) {
      const at = await this.grainAt(p.block, this.parentRef !== undefined);
      if (at === undefined) continue;
      for (let done = 0; done < p.length; done += ZERO_MIB.length) {
        await this.file.write(ZERO_MIB.subarray(0, Math.min(ZERO_MIB.length, p.length - done)), at + p.inBlock + done);
      }
    }
  }

  async flush(): Promise<void> {
    const pending = [...this.sparse.pendingTables];
    if (this.file.size < this.reach.bytes) await this.file.truncate(this.reach.bytes);
    await this.file.sync();
    if (pending.length === 0) return;
    for (const d of this.directories) {
      for (const [g, table] of pending) await this.file.write(encodeTable(table), (await d.tableSector(g)) * SECTOR);
    }
    await this.file.sync();
    for (const [g, table] of pending) {
      for (const d of this.directories) d.remember(g, table);
      this.sparse.pendingTables.delete(g);
    }
  }

  /**
   * Points this delta at another VMDK (rebase): the embedded descriptor is
   * rewritten in its area with the new parent's CID as parentCID and its
   * path as parentFileNameHint, after a flush, then fsync. Callers make
   * both parents' views equal under this child first (safe rebase).
   */
  async setParent(parent: Layer): Promise<void> {
    if (!this.parentRef) throw new DiskImageError('UNSUPPORTED', `${this.path} is not a VMDK delta; only a delta has a parent`, { path: this.path });
    if (!(parent instanceof VmdkLayer) || parent.cid === undefined) throw new DiskImageError('UNSUPPORTED', `a VMDK delta's parent must be a VMDK with a descriptor, not ${parent.path}`, { path: parent.path });
    await this.flush();
    const h = this.sparse.header;
    const old = await this.sparse.embeddedDescriptor();
    const text = Buffer.from(withParent(old ? descriptorText(old) : '', parent.cid, parentHint(this.path, parent.path)), 'utf8');
    const area = new Uint8Array(h.descriptorSize * SECTOR);
    if (text.length > area.length) throw new DiskImageError('UNSUPPORTED', `${this.path}: the new parent's name does not fit the ${area.length}-byte descriptor area`, { path: this.path });
    area.set(text);
    await this.file.write(area, h.descriptorOffset * SECTOR);
    await this.file.sync();
  }
}

/** Where a writer of `file` appends its next grain: the end of the file, in whole sectors. */
export function initialReach(file: ImageFile): Reach {
  return { bytes: roundUp(file.size, SECTOR) };
}
