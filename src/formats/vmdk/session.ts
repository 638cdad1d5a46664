import { DiskImageError } from '../../errors.js';
import type { FileOpener } from '../../io/image-file.js';
import { SECTOR } from './constants.js';
import { descriptorText } from './descriptor.js';
import { withContentIds, type ContentIds } from './descriptor-writer.js';
import type { ExtentTarget, VmdkParts } from './extents.js';
import { SPARSE_HEADER } from './header.js';
import { spaceUse } from './space-use.js';
import type { SparseExtent } from './sparse-extent.js';

/**
 * Byte of the hosted sparse header that is non-zero while the extent is
 * open with changes not closed cleanly ("Hosted Sparse Extent Header",
 * uncleanShutdown: VMware sets it before writing and clears it on a clean
 * close).
 */
const UNCLEAN_SHUTDOWN_AT = SPARSE_HEADER.fields.uncleanShutdown.offset;

/** The monolithic sparse extent whose embedded descriptor is the layer's descriptor, when the layer is one such file. */
function embedded(parts: VmdkParts): { sparse: SparseExtent; target: ExtentTarget } | undefined {
  const e = parts.extents[0];
  if (parts.extents.length !== 1 || e?.kind !== 'sparse' || e.file.path !== parts.path || !e.target) return undefined;
  return { sparse: e.sparse, target: e.target };
}

/**
 * Rewrites the layer's descriptor in place with `edit` applied to its text,
 * then fsync: the embedded descriptor's area of a monolithic sparse file
 * (UNSUPPORTED when the new text does not fit it), or the descriptor file
 * (padded with newlines to its old length when shorter, so no tail of the
 * old text is left behind).
 */
export async function rewriteDescriptor(parts: VmdkParts, openFile: FileOpener, edit: (text: string) => string): Promise<void> {
  const own = embedded(parts);
  if (own) {
    const h = own.sparse.header;
    const old = await own.sparse.embeddedDescriptor();
    const text = Buffer.from(edit(old ? descriptorText(old) : ''), 'utf8');
    const area = new Uint8Array(h.descriptorSize * SECTOR);
    if (text.length > area.length) throw new DiskImageError('UNSUPPORTED', `${parts.path}: the new descriptor does not fit the ${area.length}-byte descriptor area`, { path: parts.path });
    area.set(text);
    await own.target.file.write(area, h.descriptorOffset * SECTOR);
    await own.target.file.sync();
    return;
  }
  const file = await openFile(parts.path, 'write');
  try {
    const old = new Uint8Array(file.size);
    await file.read(old, 0);
    const text = Buffer.from(edit(descriptorText(old)), 'utf8');
    const out = Buffer.alloc(Math.max(text.length, old.length), '\n');
    out.set(text);
    await file.write(out, 0);
    await file.sync();
  } finally {
    await file.close();
  }
}

/** Sets or clears uncleanShutdown in every sparse extent opened for writing, then fsync each. */
async function markSparseExtents(parts: VmdkParts, unclean: boolean): Promise<void> {
  const extents = parts.extents.flatMap((e) => (e.kind === 'sparse' && e.target ? [e] : []));
  for (const e of extents) await e.target!.file.write(Uint8Array.of(unclean ? 1 : 0), UNCLEAN_SHUTDOWN_AT);
  for (const e of extents) {
    await e.target!.file.sync();
    e.sparse.header.uncleanShutdown = unclean;
  }
}

/**
 * Cuts what lies past the last structure of a sparse extent that was not
 * closed cleanly: grains appended by the run that crashed, before their
 * tables were stored. No table points there, so the cut loses nothing, and
 * the grains this open appends land where they were instead of after them
 * (which would leave them leaked between grains for good). fsync.
 */
async function cutLeakedEnd(sparse: SparseExtent, target: ExtentTarget): Promise<void> {
  const { end } = await spaceUse(sparse);
  if (target.file.size <= end) return;
  await target.file.truncate(end);
  await target.file.sync();
  target.reach.bytes = end;
}

/**
 * What the first change of an open does before any data is written, as
 * VMware does: uncleanShutdown set in every sparse extent (after cutting
 * the leaked end of one it was set in already), and the descriptor given
 * the new content IDs `ids` ("The Descriptor File", CID: updated on the
 * first write after the disk is opened), each fsynced. A crash from here
 * on leaves uncleanShutdown set (check reports it); the data and tables
 * written later follow the usual flush order.
 */
export async function beginChanges(parts: VmdkParts, openFile: FileOpener, ids: ContentIds): Promise<void> {
  for (const e of parts.extents) if (e.kind === 'sparse' && e.target && e.sparse.header.uncleanShutdown) await cutLeakedEnd(e.sparse, e.target);
  await markSparseExtents(parts, true);
  if (!parts.descriptor) return;
  await rewriteDescriptor(parts, openFile, (text) => withContentIds(text, ids));
  parts.descriptor.cid = ids.cid;
  parts.descriptor.ddb.longContentID = ids.longContentId;
}

/** A clean close after changes (everything flushed): uncleanShutdown cleared in every sparse extent, fsync. */
export function endChanges(parts: VmdkParts): Promise<void> {
  return markSparseExtents(parts, false);
}

