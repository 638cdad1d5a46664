import type { BesideResolver } from '../../chain/resolve-context.js';
import type { OpenableFormat } from '../../chain/open-chain.js';
import { DiskImageError } from '../../errors.js';
import type { FileOpener, ImageFile } from '../../io/image-file.js';
import type { ParentRef } from '../layer.js';
import { zeroPastEnd } from '../../io/zero-past-end.js';
import { MetadataBudget } from '../../util/metadata-budget.js';
import { ClusterMap } from './cluster-map.js';
import { AUTOCLEAR_BITMAPS, AUTOCLEAR_DATA_FILE_RAW, COMPRESSION_ZSTD, INCOMPAT_CORRUPT, INCOMPAT_DATA_FILE, INCOMPAT_DIRTY, INCOMPAT_EXTENDED_L2, MAX_CLUSTER_BITS, MIN_CLUSTER_BITS, V3_HEADER_SIZE } from './constants.js';
import { parseExtensions, type HeaderExtensions } from './extensions.js';
import { hasBit, hasQcow2Magic, parseHeader, refuseUnknownFeatures, type Qcow2Header } from './header.js';
import { qcow2ParentRef } from './parent-ref.js';
import type { Qcow2Parts } from './parts.js';
import { Qcow2Layer } from './reader.js';
import { findSnapshot, readSnapshots } from './snapshots.js';

/**
 * How a qcow2 image's parts are reached besides its own file: the external
 * data file is found by `resolveBeside` and opened through `openFile`; the
 * internal snapshot asked for, if any.
 */
export interface PartsAccess {
  openFile: FileOpener;
  resolveBeside: BesideResolver;
  snapshot?: string;
}

/**
 * The first cluster of the file (or all of a shorter one): header and
 * extensions. cluster_bits is peeked at first, clamped to 9-21, only to size
 * the read; parseHeader refuses it when it is out of range.
 */
async function readHeader(file: ImageFile): Promise<{ header: Qcow2Header; cluster: Uint8Array }> {
  const head = new Uint8Array(Math.min(V3_HEADER_SIZE, file.size));
  await file.read(head, 0);
  const bits = head.length >= 24 ? new DataView(head.buffer).getUint32(20, false) : MIN_CLUSTER_BITS;
  const cluster = new Uint8Array(Math.min(2 ** Math.max(MIN_CLUSTER_BITS, Math.min(bits, MAX_CLUSTER_BITS)), file.size));
  await file.read(cluster, 0);
  return { header: parseHeader(cluster), cluster };
}

/** The backing file name ("Header", bytes 8-19), which must lie in the file. */
async function backingName(file: ImageFile, h: Qcow2Header): Promise<string | undefined> {
  if (h.backingFileOffset === 0 || h.backingFileSize === 0) return undefined;
  if (h.backingFileOffset + h.backingFileSize > file.size) {
    throw new DiskImageError('CORRUPT', `${file.path}: qcow2 backing file name at ${h.backingFileOffset} runs past the end of the file`, { path: file.path, field: 'backing_file_offset', value: h.backingFileOffset });
  }
  const buf = new Uint8Array(h.backingFileSize);
  await file.read(buf, h.backingFileOffset);
  return Buffer.from(buf).toString('utf8');
}

/** Opens the external data file ("External data file bit") beside the image. */
async function openDataFile(path: string, ext: HeaderExtensions, access: PartsAccess, warnings: string[]): Promise<ImageFile> {
  const name = ext.dataFile;
  if (!name) throw new DiskImageError('UNSUPPORTED', `${path}: qcow2 image uses an external data file but does not name it (no data file name extension)`, { path });
  let beside = name;
  if (name.startsWith('/')) {
    beside = name.replace(/^.*\//, '');
    warnings.push(`external data file '${name}' is an absolute path; reading '${beside}' beside the image`);
  }
  return access.openFile(access.resolveBeside(path, beside, 'external data file'), 'read');
}

/** Warnings the feature bits call for ("Header", bytes 72-95). */
function featureWarnings(h: Qcow2Header, ext: HeaderExtensions, backing: string | undefined): string[] {
  const out: string[] = [];
  if (hasBit(h.incompatible, INCOMPAT_DIRTY)) out.push('the dirty bit is set (lazy refcounts not yet written back): refcounts may be stale, guest data reads correctly');
  if (hasBit(h.incompatible, INCOMPAT_CORRUPT)) out.push('the corrupt bit is set: qemu found the metadata inconsistent; reading anyway, and vdisk will not write it');
  if (ext.bitmaps && !hasBit(h.autoclear, AUTOCLEAR_BITMAPS)) out.push('the bitmaps extension is present but its autoclear bit is clear: the bitmaps are inconsistent');
  if (hasBit(h.autoclear, AUTOCLEAR_DATA_FILE_RAW) && backing) out.push('a raw external data file and a backing file together are not allowed (autoclear bit 1)');
  return out;
}

/**
 * Opens the parts of a qcow2 image: header and extensions checked, the
 * backing file named, the external data file opened, the snapshot table
 * read (charged to the image's metadata budget) and the snapshot asked for
 * found. Throws UNSUPPORTED for encryption
 * and unknown incompatible bits.
 */
export async function openParts(path: string, file: ImageFile, options: PartsAccess): Promise<Qcow2Parts> {
  const { header, cluster } = await readHeader(file);
  const extensions = parseExtensions(cluster, header.headerLength);
  refuseUnknownFeatures(header, extensions.featureNames);
  const backingFile = await backingName(file, header);
  const warnings = featureWarnings(header, extensions, backingFile);
  const budget = new MetadataBudget(path);
  const { snapshots, tableBytes } = await readSnapshots(file, header, budget);
  const snapshot = options.snapshot === undefined ? undefined : findSnapshot(snapshots, options.snapshot, path);
  const dataFile = hasBit(header.incompatible, INCOMPAT_DATA_FILE) ? await openDataFile(path, extensions, options, warnings) : undefined;
  return { path, file, header, extensions, backingFile, dataFile, snapshots, snapshotTableBytes: tableBytes, snapshot, warnings, budget };
}

/**
 * The cluster map of the L1 table opened: the snapshot's when one was asked
 * for, else the active one. `reach` is how far a writer has allocated: data
 * clusters up to there read as zeros until the file grows over them.
 */
export function openMap(parts: Qcow2Parts, reach?: () => number): Promise<ClusterMap> {
  const h = parts.header;
  const s = parts.snapshot;
  return ClusterMap.open({
    file: parts.file,
    budget: parts.budget,
    data: zeroPastEnd(parts.dataFile ?? parts.file, reach),
    dataFile: parts.dataFile !== undefined,
    clusterBits: h.clusterBits,
    v3: h.version === 3,
    extended: hasBit(h.incompatible, INCOMPAT_EXTENDED_L2),
    codec: h.compressionType === COMPRESSION_ZSTD ? 'zstd' : 'deflate',
    l1Offset: s ? s.l1Offset : h.l1TableOffset,
    l1Size: s ? s.l1Size : h.l1Size,
    virtualSize: s ? s.diskSize : h.size,
    name: s ? `snapshot ${s.id} L1 table` : 'active L1 table',
  });
}

/**
 * Opens a qcow2 image's parts from its open file (openParts) and builds its
 * layer with `make`, given the backing file's reference; on failure closes the
 * data file and the file. Kept apart from index.ts so that reading a qcow2
 * image does not pull in the writers (and through them node:path and
 * node:zlib): the browser build opens qcow2 images through this file alone.
 */
export async function openQcow2Layer<L>(path: string, file: ImageFile, access: PartsAccess, make: (parts: Qcow2Parts, ref: ParentRef | undefined) => Promise<L>): Promise<L> {
  let parts: Qcow2Parts | undefined;
  try {
    parts = await openParts(path, file, access);
    return await make(parts, parts.backingFile === undefined ? undefined : qcow2ParentRef(parts.backingFile, parts.extensions.backingFormat));
  } catch (err) {
    await parts?.dataFile?.close();
    await file.close();
    throw err;
  }
}

/** The qcow2 format, read-only: probe and reader, without the writers. */
export const qcow2ReadFormat: OpenableFormat = {
  name: 'qcow2',
  internalSnapshots: true,
  probe: (head) => hasQcow2Magic(head),
  open: async (path, options) => openQcow2Layer(path, await options.openFile(path, 'read'), options, async (parts, ref) => new Qcow2Layer(parts, await openMap(parts), ref)),
};
