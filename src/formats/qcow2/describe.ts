import type { ImageInfo } from '../types.js';
import { AUTOCLEAR_BITMAPS, AUTOCLEAR_DATA_FILE_RAW, COMPAT_LAZY_REFCOUNTS, COMPRESSION_ZSTD, INCOMPAT_CORRUPT, INCOMPAT_DIRTY, INCOMPAT_EXTENDED_L2 } from './constants.js';
import { hasBit, incompatibleNames } from './header.js';
import type { Qcow2Parts } from './parts.js';

/**
 * What `info` prints of a qcow2 image, named as `qemu-img info` names it
 * where it has a name (compat, lazy refcounts, refcount bits, corrupt,
 * extended L2, compression type, data file).
 */
export function describeQcow2(parts: Qcow2Parts, virtualSize: number, warnings: string[]): ImageInfo {
  const { header: h, extensions: ext } = parts;
  return {
    filename: parts.path,
    format: 'qcow2',
    subformat: h.version === 2 ? 'compat 0.10' : 'compat 1.1',
    virtualSize,
    fileSize: parts.file.size + (parts.dataFile?.size ?? 0),
    clusterSize: h.clusterSize,
    snapshots: parts.snapshots.map((s) => ({
      id: s.id,
      name: s.name,
      virtualSize: s.diskSize,
      date: new Date(s.dateSec * 1000 + Math.floor(s.dateNsec / 1e6)).toISOString(),
      vmClockNs: s.vmClockNsec,
      vmStateSize: s.vmStateSize,
    })),
    formatSpecific: {
      ...(parts.snapshot && { snapshot: parts.snapshot.id }),
      compat: h.version === 2 ? '0.10' : '1.1',
      compressionType: h.compressionType === COMPRESSION_ZSTD ? 'zstd' : 'zlib',
      lazyRefcounts: hasBit(h.compatible, COMPAT_LAZY_REFCOUNTS),
      refcountBits: 2 ** h.refcountOrder,
      corrupt: hasBit(h.incompatible, INCOMPAT_CORRUPT),
      dirty: hasBit(h.incompatible, INCOMPAT_DIRTY),
      extendedL2: hasBit(h.incompatible, INCOMPAT_EXTENDED_L2),
      incompatibleFeatures: incompatibleNames(parts.header),
      ...(parts.backingFile !== undefined && { backingFileName: parts.backingFile }),
      ...(ext.backingFormat !== undefined && { backingFormat: ext.backingFormat }),
      ...(parts.dataFile && { dataFile: ext.dataFile, dataFileRaw: hasBit(h.autoclear, AUTOCLEAR_DATA_FILE_RAW) }),
      ...(ext.bitmaps && { bitmaps: ext.bitmaps.nbBitmaps, bitmapsConsistent: hasBit(h.autoclear, AUTOCLEAR_BITMAPS) }),
      ...(ext.fde && { encryptionHeader: ext.fde }),
      ...(ext.unknown.length > 0 && { unknownExtensions: ext.unknown }),
    },
    warnings: [...warnings],
  };
}
