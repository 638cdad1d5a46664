import { isAbsolute } from 'node:path';
import { resolveBeside } from '../../chain/resolve.js';
import { DiskImageError } from '../../errors.js';
import type { ImageFile } from '../../io/image-file.js';
import { openSource } from '../../io/open-source.js';
import { zeroPastEnd } from '../../io/zero-past-end.js';
import type { OpenOptions } from '../types.js';
import { ClusterMap } from './cluster-map.js';
import { AUTOCLEAR_BITMAPS, AUTOCLEAR_DATA_FILE_RAW, COMPRESSION_ZSTD, INCOMPAT_CORRUPT, INCOMPAT_DATA_FILE, INCOMPAT_DIRTY, INCOMPAT_EXTENDED_L2, MAX_CLUSTER_BITS, MIN_CLUSTER_BITS, V3_HEADER_SIZE } from './constants.js';
import { parseExtensions, type HeaderExtensions } from './extensions.js';
import { hasBit, parseHeader, refuseUnknownFeatures, type Qcow2Header } from './header.js';
import { qcow2ParentRef } from './parent-ref.js';
import type { Qcow2Parts } from './parts.js';
import { Qcow2Layer } from './reader.js';
import { RefcountWriter } from './refcount-writer.js';
import { WritableQcow2Layer } from './writer.js';
import { findSnapshot, readSnapshots } from './snapshots.js';

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

/** Opens the external data file ("External data file bit") beside the image, through `openFile`. */
async function openDataFile(path: string, ext: HeaderExtensions, options: OpenOptions, warnings: string[]): Promise<ImageFile> {
  const name = ext.dataFile;
  if (!name) throw new DiskImageError('UNSUPPORTED', `${path}: qcow2 image uses an external data file but does not name it (no data file name extension)`, { path });
  let beside = name;
  if (isAbsolute(name)) {
    beside = name.replace(/^.*\//, '');
    warnings.push(`external data file '${name}' is an absolute path; reading '${beside}' beside the image`);
  }
  return (options.openFile ?? openSource)(resolveBeside(path, beside, 'external data file'), 'read');
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
 * read and the snapshot asked for found. Throws UNSUPPORTED for encryption
 * and unknown incompatible bits.
 */
export async function openParts(path: string, file: ImageFile, options: OpenOptions): Promise<Qcow2Parts> {
  const { header, cluster } = await readHeader(file);
  const extensions = parseExtensions(cluster, header.headerLength);
  refuseUnknownFeatures(header, extensions.featureNames);
  const backingFile = await backingName(file, header);
  const warnings = featureWarnings(header, extensions, backingFile);
  const { snapshots } = await readSnapshots(file, header);
  const snapshot = options.snapshot === undefined ? undefined : findSnapshot(snapshots, options.snapshot, path);
  const dataFile = hasBit(header.incompatible, INCOMPAT_DATA_FILE) ? await openDataFile(path, extensions, options, warnings) : undefined;
  return { path, file, header, extensions, backingFile, dataFile, snapshots, snapshot, warnings };
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
 * Why vdisk will not write this image, or undefined when it will: the
 * corrupt bit, the dirty bit (refcounts stale until repaired), internal
 * snapshots (their clusters are shared), an external data file, a snapshot
 * opened instead of the active L1 table.
 */
function writeRefusal(parts: Qcow2Parts): string | undefined {
  const h = parts.header;
  if (hasBit(h.incompatible, INCOMPAT_CORRUPT)) return 'its corrupt bit is set (repair it with qemu-img check -r all first)';
  if (hasBit(h.incompatible, INCOMPAT_DIRTY)) return 'its dirty bit is set: its refcounts may be stale (repair them with qemu-img check -r all first)';
  if (h.nbSnapshots > 0 || parts.snapshot) return `it holds ${h.nbSnapshots} internal snapshot(s), whose clusters it shares; vdisk does not write such images`;
  if (parts.dataFile) return 'it keeps its data in an external data file, which vdisk does not write';
  return undefined;
}

/** Opens one qcow2 layer (writable when `options.writable`); chain/ opens its backing file from the layer's parentRef. */
export async function openQcow2(path: string, options: OpenOptions): Promise<Qcow2Layer> {
  const file = await (options.openFile ?? openSource)(path, options.writable ? 'write' : 'read');
  let parts: Qcow2Parts | undefined;
  try {
    parts = await openParts(path, file, options);
    const ref = parts.backingFile === undefined ? undefined : qcow2ParentRef(parts.backingFile, parts.extensions.backingFormat);
    if (!options.writable) return new Qcow2Layer(parts, await openMap(parts), ref);
    const refused = writeRefusal(parts);
    if (refused) throw new DiskImageError('UNSUPPORTED', `${path}: vdisk will not write this qcow2 image: ${refused}`, { path });
    const refs = await RefcountWriter.open(file, parts.header);
    return new WritableQcow2Layer(parts, await openMap(parts, () => refs.end), ref, refs);
  } catch (err) {
    await parts?.dataFile?.close();
    await file.close();
    throw err;
  }
}
