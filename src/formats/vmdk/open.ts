import { DiskImageError } from '../../errors.js';
import type { ImageFile } from '../../io/image-file.js';
import { openSource } from '../../io/open-source.js';
import type { OpenOptions } from '../types.js';
import { COWD_MAGIC_TEXT, DESCRIPTOR_SIGNATURE, HEADER_SIZE, MAX_DESCRIPTOR_BYTES } from './constants.js';
import { descriptorText, parseDescriptor } from './descriptor.js';
import { openExtents, type OpenedExtent, type VmdkParts } from './extents.js';
import { hasSparseMagic } from './header.js';
import { vmdkParentRef } from './parent-ref.js';
import { VmdkLayer } from './reader.js';
import { SparseExtent } from './sparse-extent.js';

/**
 * A monolithic sparse file opened directly: the file is its own one extent,
 * as its header says (capacity, grains); the embedded descriptor gives the
 * CIDs, parent hint, create type and disk database. Where the descriptor's
 * extent list disagrees with the bytes (an extent of a split disk, whose
 * embedded descriptor area is empty; a renamed file), the bytes win.
 */
async function openSparseFile(path: string, file: ImageFile): Promise<VmdkParts> {
  const sparse = await SparseExtent.open(file);
  const bytes = await sparse.embeddedDescriptor();
  const text = bytes ? descriptorText(bytes) : '';
  const descriptor = text.trim() ? parseDescriptor(text) : undefined;
  const warnings = [...sparse.warnings, ...(descriptor?.warnings ?? [])];
  if (!descriptor) warnings.push(`no embedded descriptor: read as one sparse extent of ${sparse.capacityBytes} bytes (open a split disk through its descriptor file)`);
  else if (descriptor.extents.length !== 1) warnings.push(`the embedded descriptor lists ${descriptor.extents.length} extents; the file is read as its own single sparse extent`);
  const line = descriptor?.extents.length === 1 ? descriptor.extents[0] : undefined;
  const extents: OpenedExtent[] = [{ kind: 'sparse', line, start: 0, length: sparse.capacityBytes, file, sparse }];
  return { path, descriptor, extents, fileSize: file.size, warnings };
}

/** A descriptor file: parsed, then every extent it lists opened beside it through `openFile`. */
async function openDescriptorFile(path: string, file: ImageFile, options: OpenOptions): Promise<VmdkParts> {
  if (file.size > MAX_DESCRIPTOR_BYTES) {
    throw new DiskImageError('CORRUPT', `${path}: a ${file.size}-byte VMDK descriptor is larger than the ${MAX_DESCRIPTOR_BYTES} bytes vdisk reads`, { path, value: file.size, limit: MAX_DESCRIPTOR_BYTES });
  }
  const bytes = new Uint8Array(file.size);
  await file.read(bytes, 0);
  if (Buffer.from(bytes.subarray(0, DESCRIPTOR_SIGNATURE.length)).toString('latin1') !== DESCRIPTOR_SIGNATURE) {
    throw new DiskImageError('INVALID_FORMAT', `${path}: not a VMDK (no KDMV header, no '${DESCRIPTOR_SIGNATURE}' line)`, { path });
  }
  const descriptor = parseDescriptor(descriptorText(bytes));
  if (descriptor.extents.length === 0) throw new DiskImageError('CORRUPT', `${path}: the VMDK descriptor lists no extents`, { path });
  const extents = await openExtents(path, descriptor.extents, options.openFile ?? openSource);
  const warnings = [...descriptor.warnings, ...extents.flatMap((e) => (e.kind === 'sparse' ? e.sparse.warnings : []))];
  return { path, descriptor, extents, fileSize: file.size, warnings };
}

/** Opens one VMDK layer, read-only: a sparse file with its embedded descriptor, or a descriptor file and its extents. */
export async function openVmdk(path: string, options: OpenOptions): Promise<VmdkLayer> {
  if (options.writable) throw new DiskImageError('UNSUPPORTED', 'writing VMDK is not supported yet (vdisk reads VMDK only)', { path });
  const file = await (options.openFile ?? openSource)(path, 'read');
  let keep = false;
  try {
    const head = new Uint8Array(Math.min(HEADER_SIZE, file.size));
    await file.read(head, 0);
    if (Buffer.from(head.subarray(0, 4)).toString('latin1') === COWD_MAGIC_TEXT) {
      throw new DiskImageError('UNSUPPORTED', `${path}: a COWD (vmfsSparse) extent opened alone; open the descriptor that lists it`, { path });
    }
    keep = hasSparseMagic(head);
    const parts = keep ? await openSparseFile(path, file) : await openDescriptorFile(path, file, options);
    const last = parts.extents[parts.extents.length - 1]!;
    return new VmdkLayer(parts, vmdkParentRef(parts.descriptor, last.start + last.length));
  } catch (err) {
    keep = false;
    throw err;
  } finally {
    if (!keep) await file.close();
  }
}
