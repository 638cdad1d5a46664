import { DiskImageError } from '../../errors.js';
import type { ImageFile } from '../../io/image-file.js';
import type { OpenableFormat } from '../../chain/open-chain.js';
import type { ParentRef } from '../layer.js';
import { COWD_MAGIC_TEXT, DESCRIPTOR_SIGNATURE, HEADER_SIZE } from './constants.js';
import { limitNote, VMDK_MAX_DESCRIPTOR_BYTES } from '../../limits.js';
import { descriptorText, parseDescriptor } from './descriptor.js';
import { extentSource, openExtents, type ExtentAccess, type OpenedExtent, type VmdkParts } from './extents.js';
import { hasSparseMagic } from './header.js';
import { isSeSparse } from './sesparse-header.js';
import { vmdkParentRef } from './parent-ref.js';
import { VmdkLayer } from './reader.js';
import { SparseExtent } from './sparse-extent.js';

/** The first bytes of `bytes` as latin1 text. */
function latin1(bytes: Uint8Array, length: number): string {
  return String.fromCharCode(...bytes.subarray(0, length));
}

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

/** A descriptor file: parsed, then every extent it lists opened beside it. */
async function openDescriptorFile(path: string, file: ImageFile, access: ExtentAccess, writable: boolean): Promise<VmdkParts> {
  if (file.size > VMDK_MAX_DESCRIPTOR_BYTES) {
    throw new DiskImageError('CORRUPT', `${path}: a ${file.size}-byte VMDK descriptor is larger than the ${VMDK_MAX_DESCRIPTOR_BYTES} bytes vdisk reads (${limitNote('VMDK_MAX_DESCRIPTOR_BYTES', VMDK_MAX_DESCRIPTOR_BYTES)})`, { path, value: file.size, limit: VMDK_MAX_DESCRIPTOR_BYTES });
  }
  const bytes = new Uint8Array(file.size);
  await file.read(bytes, 0);
  if (latin1(bytes, DESCRIPTOR_SIGNATURE.length) !== DESCRIPTOR_SIGNATURE) {
    throw new DiskImageError('INVALID_FORMAT', `${path}: not a VMDK (no KDMV header, no '${DESCRIPTOR_SIGNATURE}' line)`, { path });
  }
  const descriptor = parseDescriptor(descriptorText(bytes));
  if (descriptor.extents.length === 0) throw new DiskImageError('CORRUPT', `${path}: the VMDK descriptor lists no extents`, { path });
  const extents = await openExtents(path, descriptor.extents, access, writable);
  const warnings = [...descriptor.warnings, ...extents.flatMap((e) => (e.kind === 'sparse' ? e.sparse.warnings : []))];
  return { path, descriptor, extents, fileSize: file.size, warnings };
}

/**
 * Opens the parts of one VMDK layer from its open file: a sparse file with
 * its embedded descriptor (the file stays open as its own extent), or a
 * descriptor file and its extents (the descriptor file is closed once read).
 * On failure the file is closed. Kept apart from index.ts so that reading a
 * VMDK does not pull in the writers (node:crypto, node:path): the browser
 * build opens VMDKs through this file alone.
 */
export async function openVmdkParts(path: string, file: ImageFile, access: ExtentAccess, writable: boolean): Promise<{ parts: VmdkParts; ref: ParentRef | undefined }> {
  let keep = false;
  try {
    const head = new Uint8Array(Math.min(HEADER_SIZE, file.size));
    await file.read(head, 0);
    if (latin1(head, 4) === COWD_MAGIC_TEXT) {
      throw new DiskImageError('UNSUPPORTED', `${path}: a COWD (vmfsSparse) extent opened alone; open the descriptor that lists it`, { path });
    }
    if (isSeSparse(head)) throw new DiskImageError('UNSUPPORTED', `${path}: a seSparse extent opened alone; open the descriptor that lists it`, { path });
    keep = hasSparseMagic(head);
    const parts = keep ? await openSparseFile(path, file, writable) : await openDescriptorFile(path, file, access, writable);
    const last = parts.extents[parts.extents.length - 1]!;
    return { parts, ref: vmdkParentRef(parts.descriptor, last.start + last.length) };
  } catch (err) {
    keep = false;
    throw err;
  } finally {
    if (!keep) await file.close();
  }
}

/** Whether the first bytes are a VMDK: a sparse header (KDMV), a COWD or seSparse header, or a descriptor's first line. */
export function isVmdk(head: Uint8Array): boolean {
  const text = latin1(head, DESCRIPTOR_SIGNATURE.length);
  return hasSparseMagic(head) || text.startsWith(COWD_MAGIC_TEXT) || isSeSparse(head) || text === DESCRIPTOR_SIGNATURE;
}

/** The VMDK format, read-only: probe and reader, without the writers. */
export const vmdkReadFormat: OpenableFormat = {
  name: 'vmdk',
  probe: isVmdk,
  async open(path, options) {
    const { parts, ref } = await openVmdkParts(path, await options.openFile(path, 'read'), options, false);
    return new VmdkLayer(parts, ref);
  },
};
