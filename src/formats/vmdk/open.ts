import { DiskImageError } from '../../errors.js';
import type { ImageFile } from '../../io/image-file.js';
import { openSource } from '../../io/open-source.js';
import type { OpenOptions } from '../types.js';
import { COWD_MAGIC_TEXT, DESCRIPTOR_SIGNATURE, HEADER_SIZE } from './constants.js';
import { descriptorText, parseDescriptor } from './descriptor.js';
import { closeExtents, extentSource, openExtents, type OpenedExtent, type VmdkParts } from './extents.js';
import { hasSparseMagic } from './header.js';
import { vmdkParentRef } from './parent-ref.js';
import { VmdkLayer } from './reader.js';
import { SparseExtent } from './sparse-extent.js';
import { WritableVmdkLayer } from './writer.js';
import { limitNote, VMDK_MAX_DESCRIPTOR_BYTES } from '../../limits.js';

/**
 * A monolithic sparse file opened directly: the file is its own one extent,
 * as its header says (capacity, grains); the embedded descriptor gives the
 * CIDs, parent hint, create type and disk database. Where the descriptor's
 * extent list disagrees with the bytes (an extent of a split disk, whose
 * embedded descriptor area is empty; a renamed file), the bytes win.
 */
async function openSparseFile(path: string, file: ImageFile, writable: boolean): Promise<VmdkParts> {
  const { source, target } = extentSource(file, writable);
  const sparse = await SparseExtent.open(source);
  const bytes = await sparse.embeddedDescriptor();
  const text = bytes ? descriptorText(bytes) : '';
  const descriptor = text.trim() ? parseDescriptor(text) : undefined;
  const warnings = [...sparse.warnings, ...(descriptor?.warnings ?? [])];
  if (!descriptor) warnings.push(`no embedded descriptor: read as one sparse extent of ${sparse.capacityBytes} bytes (open a split disk through its descriptor file)`);
  else if (descriptor.extents.length !== 1) warnings.push(`the embedded descriptor lists ${descriptor.extents.length} extents; the file is read as its own single sparse extent`);
  const line = descriptor?.extents.length === 1 ? descriptor.extents[0] : undefined;
  const extents: OpenedExtent[] = [{ kind: 'sparse', line, start: 0, length: sparse.capacityBytes, file: source, sparse, target }];
  return { path, descriptor, extents, fileSize: file.size, warnings };
}

/** A descriptor file: parsed, then every extent it lists opened beside it through `openFile`. */
async function openDescriptorFile(path: string, file: ImageFile, options: OpenOptions): Promise<VmdkParts> {
  if (file.size > VMDK_MAX_DESCRIPTOR_BYTES) {
    throw new DiskImageError('CORRUPT', `${path}: a ${file.size}-byte VMDK descriptor is larger than the ${VMDK_MAX_DESCRIPTOR_BYTES} bytes vdisk reads (${limitNote('VMDK_MAX_DESCRIPTOR_BYTES', VMDK_MAX_DESCRIPTOR_BYTES)})`, { path, value: file.size, limit: VMDK_MAX_DESCRIPTOR_BYTES });
  }
  const bytes = new Uint8Array(file.size);
  await file.read(bytes, 0);
  if (Buffer.from(bytes.subarray(0, DESCRIPTOR_SIGNATURE.length)).toString('latin1') !== DESCRIPTOR_SIGNATURE) {
    throw new DiskImageError('INVALID_FORMAT', `${path}: not a VMDK (no KDMV header, no '${DESCRIPTOR_SIGNATURE}' line)`, { path });
  }
  const descriptor = parseDescriptor(descriptorText(bytes));
  if (descriptor.extents.length === 0) throw new DiskImageError('CORRUPT', `${path}: the VMDK descriptor lists no extents`, { path });
  const extents = await openExtents(path, descriptor.extents, options.openFile ?? openSource, options.writable === true);
  const warnings = [...descriptor.warnings, ...extents.flatMap((e) => (e.kind === 'sparse' ? e.sparse.warnings : []))];
  return { path, descriptor, extents, fileSize: file.size, warnings };
}

/**
 * Checks every sparse extent can be written in place: uncompressed, its
 * primary directory intact, and every grain table present in each
 * directory (so writes change table entries only). UNSUPPORTED or CORRUPT
 * otherwise.
 */
async function assertWritable(parts: VmdkParts): Promise<void> {
  for (const e of parts.extents) {
    if (e.kind !== 'sparse') continue;
    const { sparse } = e;
    const refuse = (why: string) => new DiskImageError('UNSUPPORTED', `${e.file.path}: vdisk cannot write into this VMDK extent: ${why}`, { path: e.file.path });
    if (sparse.header.compressed) throw refuse('its grains are compressed (streamOptimized is written front to back by convert)');
    if (sparse.header.headerBytes !== HEADER_SIZE) throw refuse('it is an ESX (COWD) sparse extent');
    if (!sparse.primary) throw new DiskImageError('CORRUPT', `${e.file.path}: the grain directory is damaged; run vdisk check --repair first`, { path: e.file.path });
    for (const d of [sparse.primary, sparse.redundant]) {
      for (let g = 0; d && g < d.entries; g++) if ((await d.tableSector(g)) === 0) throw refuse(`its ${d.name} lacks grain table ${g}`);
    }
  }
}

/**
 * Opens one VMDK layer: a sparse file with its embedded descriptor, or a
 * descriptor file and its extents. Writable (WritableVmdkLayer): flat
 * extents, and sparse extents read through a source that reaches as far as
 * their writer has allocated; `fresh` when the disk was just created (its
 * first change then keeps its content IDs and uncleanShutdown).
 */
export async function openVmdk(path: string, options: OpenOptions, fresh = false): Promise<VmdkLayer> {
  const file = await (options.openFile ?? openSource)(path, options.writable ? 'write' : 'read');
  let keep = false;
  try {
    const head = new Uint8Array(Math.min(HEADER_SIZE, file.size));
    await file.read(head, 0);
    if (Buffer.from(head.subarray(0, 4)).toString('latin1') === COWD_MAGIC_TEXT) {
      throw new DiskImageError('UNSUPPORTED', `${path}: a COWD (vmfsSparse) extent opened alone; open the descriptor that lists it`, { path });
    }
    keep = hasSparseMagic(head);
    const parts = keep ? await openSparseFile(path, file, options.writable === true) : await openDescriptorFile(path, file, options);
    const last = parts.extents[parts.extents.length - 1]!;
    const ref = vmdkParentRef(parts.descriptor, last.start + last.length);
    if (!options.writable) return new VmdkLayer(parts, ref);
    try {
      await assertWritable(parts);
      return new WritableVmdkLayer(parts, ref, options.openFile ?? openSource, fresh);
    } catch (err) {
      if (!keep) await closeExtents(parts.extents);
      else await closeExtents(parts.extents.slice(1));
      throw err;
    }
  } catch (err) {
    keep = false;
    throw err;
  } finally {
    if (!keep) await file.close();
  }
}
