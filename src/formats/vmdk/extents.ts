import type { BesideResolver } from '../../chain/resolve-context.js';
import { DiskImageError } from '../../errors.js';
import type { ByteSource } from '../../io/byte-source.js';
import type { FileOpener, ImageFile } from '../../io/image-file.js';
import { zeroPastEnd } from '../../io/zero-past-end.js';
import { roundUp } from '../../util/checked.js';
import { SECTOR } from './constants.js';
import { GrainCaches } from './grain-directory.js';
import type { Descriptor, ExtentLine } from './descriptor.js';
import { SparseExtent } from './sparse-extent.js';
import { SeSparseExtent } from './sesparse-extent.js';

/** An extent file open for writing, and how far its writer has allocated (sparse extents append grains). */
export interface ExtentTarget {
  file: ImageFile;
  reach: Reach;
}

/** One extent of the disk, opened: where its guest bytes start and how many, and what holds them (`target` when opened for writing). */
export type OpenedExtent =
  | { kind: 'flat'; line?: ExtentLine; start: number; length: number; file: ByteSource; at: number; target?: ExtentTarget }
  | { kind: 'sparse'; line?: ExtentLine; start: number; length: number; file: ByteSource; sparse: SparseExtent; target?: ExtentTarget }
  | { kind: 'sesparse'; line?: ExtentLine; start: number; length: number; file: ByteSource; se: SeSparseExtent }
  | { kind: 'zero'; line?: ExtentLine; start: number; length: number };

/** How far a writer has allocated its file, shared with the source the extent reads through (zeroPastEnd). */
export interface Reach {
  bytes: number;
}

/**
 * The file as an extent is read through while it is written: bytes past its
 * end, up to where the writer has allocated, read as zeros; and the target
 * to write it. Read-only files are read as they are.
 */
export function extentSource(file: ImageFile, writable: boolean): { source: ByteSource; target?: ExtentTarget } {
  if (!writable) return { source: file };
  const reach = { bytes: roundUp(file.size, SECTOR) };
  return { source: zeroPastEnd(file, () => reach.bytes), target: { file, reach } };
}

/** What opening a VMDK found: the descriptor (when there is one), the extents, and the descriptor file's own path and size. */
export interface VmdkParts {
  path: string;
  descriptor?: Descriptor;
  extents: OpenedExtent[];
  /** Size of the file the user named (the descriptor file, or the monolithic sparse file). */
  fileSize: number;
  warnings: string[];
}

/** Extent types that are a plain run of sectors in a file ("Extent Descriptions": FLAT, and VMFS for ESX flat disks). */
const FLAT_TYPES = new Set(['FLAT', 'VMFS']);

/** Why vdisk does not read an extent type, for the UNSUPPORTED message. */
const UNSUPPORTED_TYPES: Record<string, string> = {
  VMFSRDM: 'VMFSRDM (raw device mapping) extents',
  VMFSRAW: 'VMFSRAW (raw device) extents',
};

function unsupported(line: ExtentLine, what: string): DiskImageError {
  return new DiskImageError('UNSUPPORTED', `VMDK ${what} are not supported (descriptor line ${line.line})`, { field: 'extent type', value: line.type });
}

/** How extent files are reached: opened through `openFile`, found beside the descriptor by `resolveBeside`. */
export interface ExtentAccess {
  openFile: FileOpener;
  resolveBeside: BesideResolver;
}

/** CORRUPT when a sparse extent's header holds fewer sectors than its descriptor line says. */
function checkCapacity(path: string, line: ExtentLine, capacity: number): void {
  if (capacity < line.sectors) {
    throw new DiskImageError('CORRUPT', `${path}: the descriptor gives this extent ${line.sectors} sectors, its header ${capacity}`, { path, field: 'capacity', value: capacity });
  }
}

/** Opens one extent's file beside the descriptor (for writing when `writable`), and checks it holds what the line says; a sparse extent keeps its tables in `caches`. */
async function openExtent(descriptorPath: string, line: ExtentLine, start: number, access: ExtentAccess, writable: boolean, caches: GrainCaches): Promise<OpenedExtent> {
  const length = line.sectors * SECTOR;
  if (line.access === 'NOACCESS') throw unsupported(line, 'NOACCESS');
  if (line.type === 'ZERO') return { kind: 'zero', line, start, length };
  const what = UNSUPPORTED_TYPES[line.type];
  if (what) throw unsupported(line, what);
  if (line.type === 'SESPARSE' && writable) {
    throw new DiskImageError('UNSUPPORTED', `VMDK SESPARSE (ESXi space-efficient sparse) extents are read-only in vdisk, as in qemu (descriptor line ${line.line}): convert the disk to write it`, { field: 'extent type', value: line.type });
  }
  const file = await access.openFile(access.resolveBeside(descriptorPath, line.file!), writable ? 'write' : 'read');
  const { source, target } = extentSource(file, writable);
  try {
    if (FLAT_TYPES.has(line.type)) {
      const at = line.offset * SECTOR;
      if (at + length > file.size) {
        throw new DiskImageError('CORRUPT', `${file.path}: ${line.type} extent of ${length} bytes at byte ${at} runs past the end of the file (${file.size} bytes)`, { path: file.path, value: file.size });
      }
      return { kind: 'flat', line, start, length, file, at, target };
    }
    if (line.type === 'SESPARSE') {
      const se = await SeSparseExtent.open(file);
      checkCapacity(file.path, line, se.header.capacity);
      return { kind: 'sesparse', line, start, length, file, se };
    }
    const sparse = await SparseExtent.open(source, caches);
    checkCapacity(file.path, line, sparse.header.capacity);
    return { kind: 'sparse', line, start, length, file: source, sparse, target };
  } catch (err) {
    await file.close();
    throw err;
  }
}

/** Opens every extent a descriptor lists, in order (for writing when `writable`), their sparse extents sharing one set of grain caches; on failure closes those already open. */
export async function openExtents(descriptorPath: string, lines: ExtentLine[], access: ExtentAccess, writable = false): Promise<OpenedExtent[]> {
  const out: OpenedExtent[] = [];
  const caches = new GrainCaches();
  let start = 0;
  try {
    for (const line of lines) {
      out.push(await openExtent(descriptorPath, line, start, access, writable, caches));
      start += line.sectors * SECTOR;
    }
    return out;
  } catch (err) {
    await closeExtents(out);
    throw err;
  }
}

/** Closes the files of `extents`. */
export async function closeExtents(extents: OpenedExtent[]): Promise<void> {
  for (const e of extents) if (e.kind !== 'zero') await e.file.close();
}
