import { DiskImageError } from '../../errors.js';
import type { FileOpener } from '../../io/image-file.js';
import { ZERO_MIB } from '../../util/zero.js';
import type { Layer, ParentRef, WritableLayer } from '../layer.js';
import { SECTOR } from './constants.js';
import { newContentIds, withParent, type ContentIds } from './descriptor-writer.js';
import { parentHint } from './parent-hint.js';
import type { OpenedExtent, VmdkParts } from './extents.js';
import { VmdkLayer } from './reader.js';
import { beginChanges, endChanges, rewriteDescriptor } from './session.js';
import { SparseExtentWriter } from './sparse-writer.js';

/** What writes one extent: a sparse extent's writer, or a flat extent's file at an offset. */
type ExtentWrite = { extent: OpenedExtent; sparse?: SparseExtentWriter };

/** A content ID as an identity (4 bytes, big-endian), as commit hands it from a parent to its child. */
function cidIdentity(cid: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, cid);
  return out;
}

/**
 * A VMDK open for writing: its extents, each sparse one through a
 * SparseExtentWriter, each flat one written in place. A delta is written
 * in whole grains: chain/ reads the parts of a grain a write does not cover
 * from the parent first, so every grain the delta holds is complete.
 * `flush` flushes every extent: the file set is a valid image after it.
 *
 * An existing disk's first change of the open sets uncleanShutdown and
 * gives it new content IDs (session.ts) before any data is written; a
 * clean close flushes and clears uncleanShutdown. A disk just created
 * (`fresh`) has new IDs already and is not marked.
 */
export class WritableVmdkLayer extends VmdkLayer implements WritableLayer {
  private readonly writes: ExtentWrite[];
  /** The content IDs the first change takes (undefined: a fresh disk, or no descriptor). */
  private readonly nextIds: ContentIds | undefined;
  private begun: Promise<void> | undefined;

  constructor(
    parts: VmdkParts,
    parentRef: ParentRef | undefined,
    private readonly openFile: FileOpener,
    fresh: boolean,
  ) {
    super(parts, parentRef);
    this.nextIds = fresh ? undefined : newContentIds();
    this.writes = parts.extents.map((extent) => {
      if (extent.kind === 'zero') throw new DiskImageError('UNSUPPORTED', `${parts.path}: vdisk cannot write into a ZERO extent`, { path: parts.path });
      if (extent.kind === 'sesparse' || !extent.target) throw new DiskImageError('UNSUPPORTED', `${parts.path}: an extent is not open for writing`, { path: parts.path });
      return { extent, ...(extent.kind === 'sparse' && { sparse: new SparseExtentWriter(extent.sparse, extent.target) }) };
    });
  }

  /** Sectors; whole grains in a delta, whose grains must hold the parent's bytes around a write. */
  get writeUnit(): number {
    return this.parentRef ? this.grain : SECTOR;
  }

  /** The CID this disk takes at its first change in this open; a child pre-linked to it (acceptParentIdentity) stays linked. */
  get upcomingIdentity(): Uint8Array | undefined {
    return this.nextIds && this.parts.descriptor ? cidIdentity(this.nextIds.cid) : undefined;
  }

  /** Marks the disk changed (once per open, before its first data write). */
  private begin(): Promise<void> {
    if (!this.nextIds) return Promise.resolve();
    this.begun ??= beginChanges(this.parts, this.openFile, this.nextIds);
    return this.begun;
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
    await this.begin();
    await this.pieces(offset, data.length, async (w, inExtent, at, n) => {
      const piece = data.subarray(at, at + n);
      if (w.sparse) return w.sparse.writeAt(piece, inExtent);
      if (w.extent.kind === 'flat') await w.extent.target!.file.write(piece, w.extent.at + inExtent);
    });
  }

  async writeZeroes(offset: number, length: number): Promise<void> {
    await this.begin();
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

  /** A clean close: after changes, everything flushed, then uncleanShutdown cleared; the files are closed in any case. */
  override async close(): Promise<void> {
    try {
      if (this.begun) {
        await this.begun;
        await this.flush();
        await endChanges(this.parts);
      }
    } finally {
      await super.close();
    }
  }

  /**
   * Points this delta at another VMDK (rebase, or re-link after a commit
   * into its parent): after a flush, the descriptor (embedded, or the
   * descriptor file) is rewritten with the parent's CID as parentCID and
   * its path as parentFileNameHint, then fsync (the rest of the descriptor
   * is kept line for line). Callers make both parents' views equal under
   * this child first (safe rebase).
   */
  async setParent(parent: Layer): Promise<void> {
    await this.relink(parent);
  }

  /**
   * Accepts `identity`, the CID the parent takes at its first change (a
   * commit into it), besides its current one: the parent's current CID as
   * parentCID and `identity` under NEXT_PARENT_CID_KEY, before the parent
   * changes, so the delta stays linked at every crash point; the commit's
   * end re-links it (setParent), which removes the key.
   */
  async acceptParentIdentity(identity: Uint8Array, parent: Layer): Promise<void> {
    await this.relink(parent, new DataView(identity.buffer, identity.byteOffset, identity.byteLength).getUint32(0));
  }

  private async relink(parent: Layer, next?: number): Promise<void> {
    if (!this.parentRef) throw new DiskImageError('UNSUPPORTED', `${this.path} is not a VMDK delta; only a delta is rebased`, { path: this.path });
    if (!(parent instanceof VmdkLayer) || parent.cid === undefined) throw new DiskImageError('UNSUPPORTED', `a VMDK delta's parent must be a VMDK with a descriptor, not ${parent.path}`, { path: parent.path });
    await this.flush();
    const parentCid = parent.cid;
    await rewriteDescriptor(this.parts, this.openFile, (text) => withParent(text, parentCid, parentHint(this.path, parent.path), next));
    const d = this.parts.descriptor!;
    d.parentCid = parentCid;
    d.nextParentCid = next;
  }
}
