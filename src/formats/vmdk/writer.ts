import { DiskImageError } from '../../errors.js';
import { ZERO_MIB } from '../../util/zero.js';
import type { Layer, ParentRef, WritableLayer } from '../layer.js';
import { SECTOR } from './constants.js';
import { descriptorText } from './descriptor.js';
import { parentHint, withParent } from './descriptor-writer.js';
import type { OpenedExtent, VmdkParts } from './extents.js';
import { VmdkLayer } from './reader.js';
import { SparseExtentWriter } from './sparse-writer.js';

/** What writes one extent: a sparse extent's writer, or a flat extent's file at an offset. */
type ExtentWrite = { extent: OpenedExtent; sparse?: SparseExtentWriter };

/**
 * A VMDK open for writing: its extents, each sparse one through a
 * SparseExtentWriter, each flat one written in place. A delta is written
 * in whole grains: chain/ reads the parts of a grain a write does not cover
 * from the parent first, so every grain the delta holds is complete.
 * `flush` flushes every extent: the file set is a valid image after it.
 */
export class WritableVmdkLayer extends VmdkLayer implements WritableLayer {
  private readonly writes: ExtentWrite[];

  constructor(parts: VmdkParts, parentRef: ParentRef | undefined) {
    super(parts, parentRef);
    this.writes = parts.extents.map((extent) => {
      if (extent.kind === 'zero') throw new DiskImageError('UNSUPPORTED', `${parts.path}: vdisk cannot write into a ZERO extent`, { path: parts.path });
      if (!extent.target) throw new DiskImageError('UNSUPPORTED', `${parts.path}: an extent is not open for writing`, { path: parts.path });
      return { extent, ...(extent.kind === 'sparse' && { sparse: new SparseExtentWriter(extent.sparse, extent.target) }) };
    });
  }

  /** Sectors; whole grains in a delta, whose grains must hold the parent's bytes around a write. */
  get writeUnit(): number {
    return this.parentRef ? this.grain : SECTOR;
  }

  /** Calls `fn` for each extent's part of [offset, offset+length), with the offset inside the extent and where the part starts in the range. */
  private async pieces(offset: number, length: number, fn: (w: ExtentWrite, inExtent: number, at: number, n: number) => Promise<void>): Promise<void> {
    const jobs: Promise<void>[] = [];
    for (const w of this.writes) {
      const { start, length: size } = w.extent;
      const from = Math.max(offset, start);
      const to = Math.min(offset + length, start + size);
      if (from < to) jobs.push(fn(w, from - start, from - offset, to - from));
    }
    await Promise.all(jobs);
  }

  async writeAt(data: Uint8Array, offset: number): Promise<void> {
    await this.pieces(offset, data.length, async (w, inExtent, at, n) => {
      const piece = data.subarray(at, at + n);
      if (w.sparse) return w.sparse.writeAt(piece, inExtent);
      if (w.extent.kind === 'flat') await w.extent.target!.file.write(piece, w.extent.at + inExtent);
    });
  }

  async writeZeroes(offset: number, length: number): Promise<void> {
    await this.pieces(offset, length, async (w, inExtent, _at, n) => {
      if (w.sparse) return w.sparse.writeZeroes(inExtent, n, this.parentRef !== undefined);
      if (w.extent.kind !== 'flat') return;
      for (let done = 0; done < n; done += ZERO_MIB.length) {
        await w.extent.target!.file.write(ZERO_MIB.subarray(0, Math.min(ZERO_MIB.length, n - done)), w.extent.at + inExtent + done);
      }
    });
  }

  async flush(): Promise<void> {
    for (const w of this.writes) {
      if (w.sparse) await w.sparse.flush();
      else if (w.extent.kind === 'flat') await w.extent.target!.file.sync();
    }
  }

  /**
   * Points this delta at another VMDK (rebase): the embedded descriptor is
   * rewritten in its area with the new parent's CID as parentCID and its
   * path as parentFileNameHint, after a flush, then fsync. Callers make
   * both parents' views equal under this child first (safe rebase).
   */
  async setParent(parent: Layer): Promise<void> {
    const extent = this.parts.extents[0];
    if (!this.parentRef || this.parts.extents.length !== 1 || extent?.kind !== 'sparse' || extent.file.path !== this.path) {
      throw new DiskImageError('UNSUPPORTED', `${this.path} is not a monolithic sparse VMDK delta; only such a delta is rebased`, { path: this.path });
    }
    if (!(parent instanceof VmdkLayer) || parent.cid === undefined) throw new DiskImageError('UNSUPPORTED', `a VMDK delta's parent must be a VMDK with a descriptor, not ${parent.path}`, { path: parent.path });
    await this.flush();
    const h = extent.sparse.header;
    const old = await extent.sparse.embeddedDescriptor();
    const text = Buffer.from(withParent(old ? descriptorText(old) : '', parent.cid, parentHint(this.path, parent.path)), 'utf8');
    const area = new Uint8Array(h.descriptorSize * SECTOR);
    if (text.length > area.length) throw new DiskImageError('UNSUPPORTED', `${this.path}: the new parent's name does not fit the ${area.length}-byte descriptor area`, { path: this.path });
    area.set(text);
    await extent.target!.file.write(area, h.descriptorOffset * SECTOR);
    await extent.target!.file.sync();
  }
}
