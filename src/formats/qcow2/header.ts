import { DiskImageError } from '../../errors.js';
import { decodeStruct, defineStruct } from '../../util/struct.js';
import {
  COMPRESSION_TYPE_END,
  COMPRESSION_ZLIB,
  COMPRESSION_ZSTD,
  CRYPT_METHODS,
  INCOMPAT_COMPRESSION,
  INCOMPAT_EXTENDED_L2,
  INCOMPAT_NAMES,
  KNOWN_INCOMPAT,
  MAX_BACKING_NAME,
  MAX_CLUSTER_BITS,
  MAX_REFCOUNT_ORDER,
  MIN_CLUSTER_BITS,
  MIN_EXTENDED_L2_CLUSTER_BITS,
  QCOW2_MAGIC,
  V2_HEADER_SIZE,
  V2_REFCOUNT_ORDER,
  V3_HEADER_SIZE,
} from './constants.js';

/** The version 2 fields ("Header", bytes 0-71). */
export const HEADER_V2 = defineStruct('QCowHeader', V2_HEADER_SIZE, 'be', {
  magic: { offset: 0, type: 'u32' },
  version: { offset: 4, type: 'u32' },
  backingFileOffset: { offset: 8, type: 'u64' },
  backingFileSize: { offset: 16, type: 'u32' },
  clusterBits: { offset: 20, type: 'u32' },
  size: { offset: 24, type: 'u64' },
  cryptMethod: { offset: 32, type: 'u32' },
  l1Size: { offset: 36, type: 'u32' },
  l1TableOffset: { offset: 40, type: 'u64' },
  refcountTableOffset: { offset: 48, type: 'u64' },
  refcountTableClusters: { offset: 56, type: 'u32' },
  nbSnapshots: { offset: 60, type: 'u32' },
  snapshotsOffset: { offset: 64, type: 'u64' },
});

/** The version 3 fields ("Header", bytes 72-103). */
export const HEADER_V3 = defineStruct('QCowHeaderV3', V3_HEADER_SIZE, 'be', {
  incompatibleFeatures: { offset: 72, type: 'u64' },
  compatibleFeatures: { offset: 80, type: 'u64' },
  autoclearFeatures: { offset: 88, type: 'u64' },
  refcountOrder: { offset: 96, type: 'u32' },
  headerLength: { offset: 100, type: 'u32' },
});

/** A validated qcow2 header, offsets as numbers, feature bitmasks as bigints. */
export interface Qcow2Header {
  version: 2 | 3;
  backingFileOffset: number;
  backingFileSize: number;
  clusterBits: number;
  clusterSize: number;
  size: number;
  l1Size: number;
  l1TableOffset: number;
  refcountTableOffset: number;
  refcountTableClusters: number;
  nbSnapshots: number;
  snapshotsOffset: number;
  incompatible: bigint;
  compatible: bigint;
  autoclear: bigint;
  refcountOrder: number;
  /** Bytes of header before the extensions (72 for version 2). */
  headerLength: number;
  /** 0 zlib, 1 zstd ("Additional fields", byte 104). */
  compressionType: number;
}

/** True when bit `bit` of `mask` is set. */
export function hasBit(mask: bigint, bit: number): boolean {
  return ((mask >> BigInt(bit)) & 1n) === 1n;
}

/** The set bits of `mask`, lowest first. */
export function setBits(mask: bigint): number[] {
  const out: number[] = [];
  for (let b = 0; b < 64; b++) if (hasBit(mask, b)) out.push(b);
  return out;
}

function corrupt(field: string, value: unknown, why: string): DiskImageError {
  return new DiskImageError('CORRUPT', `qcow2 header: ${field} ${String(value)} ${why}`, { field, value: String(value) });
}

/** A u64 offset or size as a number; CORRUPT past 2^53 (no file is that large). */
function u64(field: string, v: bigint): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw corrupt(field, v, 'is too large');
  return Number(v);
}

/** True when `head` starts with the qcow2 magic ("Header", bytes 0-3). */
export function hasQcow2Magic(head: Uint8Array): boolean {
  return head.length >= 4 && new DataView(head.buffer, head.byteOffset, 4).getUint32(0, false) === QCOW2_MAGIC;
}

/** The compression_type field, when header_length holds it, checked against the compression type bit. */
function compressionType(buf: Uint8Array, headerLength: number, incompatible: bigint): number {
  const type = headerLength >= COMPRESSION_TYPE_END ? buf[V3_HEADER_SIZE]! : COMPRESSION_ZLIB;
  const bit = hasBit(incompatible, INCOMPAT_COMPRESSION);
  if (bit !== (type !== COMPRESSION_ZLIB)) throw corrupt('compression_type', type, `does not agree with the compression type bit (${bit ? 'set' : 'clear'})`);
  if (type !== COMPRESSION_ZLIB && type !== COMPRESSION_ZSTD) {
    throw new DiskImageError('UNSUPPORTED', `qcow2 compression type ${type} is not supported (0 zlib, 1 zstd)`, { field: 'compression_type', value: type });
  }
  return type;
}

/**
 * Decodes and checks a qcow2 header from the first bytes of the file (at
 * least header_length of them): magic, version 2 or 3, cluster_bits 9-21,
 * no encryption, refcount_order at most 6. Unknown incompatible bits are
 * refused by refuseUnknownFeatures once the feature name table is read; the
 * tables' offsets are checked against the file by the caller.
 */
export function parseHeader(buf: Uint8Array): Qcow2Header {
  if (buf.length < V2_HEADER_SIZE) throw new DiskImageError('INVALID_FORMAT', `not a qcow2 image: ${buf.length} bytes, shorter than a header`);
  const f = decodeStruct(HEADER_V2, buf);
  if (f.magic !== QCOW2_MAGIC) throw new DiskImageError('INVALID_FORMAT', 'not a qcow2 image (no QFI\\xfb magic)', { field: 'magic', value: f.magic });
  if (f.version !== 2 && f.version !== 3) throw new DiskImageError('UNSUPPORTED', `qcow2 version ${f.version} is not supported (2 or 3)`, { field: 'version', value: f.version });
  if (f.clusterBits < MIN_CLUSTER_BITS || f.clusterBits > MAX_CLUSTER_BITS) throw corrupt('cluster_bits', f.clusterBits, `is not from ${MIN_CLUSTER_BITS} to ${MAX_CLUSTER_BITS} (512 B to 2 MiB clusters)`);
  const method = CRYPT_METHODS[f.cryptMethod];
  if (f.cryptMethod !== 0) {
    throw new DiskImageError('UNSUPPORTED', `qcow2 image is encrypted (${method ?? `crypt_method ${f.cryptMethod}`}); vdisk does not read encrypted images`, { field: 'crypt_method', value: f.cryptMethod });
  }
  let v3 = { incompatibleFeatures: 0n, compatibleFeatures: 0n, autoclearFeatures: 0n, refcountOrder: V2_REFCOUNT_ORDER, headerLength: V2_HEADER_SIZE };
  if (f.version === 3) {
    if (buf.length < V3_HEADER_SIZE) throw corrupt('version', 3, `but only ${buf.length} header bytes`);
    v3 = decodeStruct(HEADER_V3, buf);
    if (v3.headerLength < V3_HEADER_SIZE || v3.headerLength % 8 !== 0) throw corrupt('header_length', v3.headerLength, `is not a multiple of 8 of at least ${V3_HEADER_SIZE}`);
    if (v3.headerLength > buf.length) throw corrupt('header_length', v3.headerLength, `runs past the first cluster (${buf.length} bytes)`);
  }
  if (v3.refcountOrder > MAX_REFCOUNT_ORDER) throw corrupt('refcount_order', v3.refcountOrder, `is larger than ${MAX_REFCOUNT_ORDER}`);
  if (hasBit(v3.incompatibleFeatures, INCOMPAT_EXTENDED_L2) && f.clusterBits < MIN_EXTENDED_L2_CLUSTER_BITS) {
    throw corrupt('cluster_bits', f.clusterBits, `is below ${MIN_EXTENDED_L2_CLUSTER_BITS}, the least with extended L2 entries`);
  }
  if (f.backingFileOffset !== 0n && f.backingFileSize > MAX_BACKING_NAME) throw corrupt('backing_file_size', f.backingFileSize, `is longer than ${MAX_BACKING_NAME} bytes`);
  return {
    version: f.version,
    backingFileOffset: u64('backing_file_offset', f.backingFileOffset),
    backingFileSize: f.backingFileOffset === 0n ? 0 : f.backingFileSize,
    clusterBits: f.clusterBits,
    clusterSize: 2 ** f.clusterBits,
    size: u64('size', f.size),
    l1Size: f.l1Size,
    l1TableOffset: u64('l1_table_offset', f.l1TableOffset),
    refcountTableOffset: u64('refcount_table_offset', f.refcountTableOffset),
    refcountTableClusters: f.refcountTableClusters,
    nbSnapshots: f.nbSnapshots,
    snapshotsOffset: u64('snapshots_offset', f.snapshotsOffset),
    incompatible: v3.incompatibleFeatures,
    compatible: v3.compatibleFeatures,
    autoclear: v3.autoclearFeatures,
    refcountOrder: v3.refcountOrder,
    headerLength: v3.headerLength,
    compressionType: compressionType(buf, v3.headerLength, v3.incompatibleFeatures),
  };
}

/**
 * UNSUPPORTED naming every incompatible bit vdisk does not know ("Header",
 * bytes 72-79: "An implementation must fail to open an image if an unknown
 * bit is set"), with its name from the image's feature name table if any.
 */
export function refuseUnknownFeatures(h: Qcow2Header, names: Map<string, string>): void {
  const unknown = setBits(h.incompatible).filter((b) => !KNOWN_INCOMPAT.includes(b));
  if (unknown.length === 0) return;
  const named = unknown.map((b) => {
    const name = names.get(`0:${b}`);
    return name ? `${b} (${name})` : String(b);
  });
  throw new DiskImageError('UNSUPPORTED', `qcow2 incompatible feature bit ${named.join(', ')} is set and vdisk does not know it`, { field: 'incompatible_features', value: unknown.join(',') });
}

/** The names of the incompatible bits set, for `info`. */
export function incompatibleNames(h: Qcow2Header): string[] {
  return setBits(h.incompatible).map((b) => INCOMPAT_NAMES[b] ?? `bit ${b}`);
}
