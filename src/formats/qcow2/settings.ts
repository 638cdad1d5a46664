import { DiskImageError } from '../../errors.js';
import { isPowerOfTwo, roundUp } from '../../util/checked.js';
import { parseSize } from '../../util/sizes.js';
import { l2Entries } from './cluster-map.js';
import { COMPAT_LAZY_REFCOUNTS, COMPRESSION_ZLIB, COMPRESSION_ZSTD, DEFAULT_CLUSTER_BITS, ENTRY_BYTES, INCOMPAT_COMPRESSION, INCOMPAT_EXTENDED_L2, MAX_CLUSTER_BITS, MIN_CLUSTER_BITS, MIN_EXTENDED_L2_CLUSTER_BITS, WRITTEN_REFCOUNT_ORDER, WRITTEN_V3_HEADER_LENGTH, V2_HEADER_SIZE } from './constants.js';
import type { Qcow2Header } from './header.js';
import type { NewImagePlan } from './layout.js';
import { qemuFormatName } from './parent-ref.js';
import { QCOW2_MAX_L1_BYTES } from '../../limits.js';

/** Smallest and default cluster sizes ("Header", cluster_bits 9-21; qemu's default 64 KiB). */
export const MIN_CLUSTER_SIZE = 2 ** MIN_CLUSTER_BITS;
/** See MIN_CLUSTER_SIZE. */
export const DEFAULT_CLUSTER_SIZE = 2 ** DEFAULT_CLUSTER_BITS;

/** A new image's settings, from its `-o` options. */
export interface Qcow2Settings {
  version: 2 | 3;
  clusterBits: number;
  size: number;
  l1Size: number;
  lazyRefcounts: boolean;
  extended: boolean;
  preallocation: 'off' | 'metadata' | 'full';
  /** How compressed clusters are (or would be) compressed: the header's compression_type. */
  compressionType: 'zlib' | 'zstd';
  /** Every cluster compressed (`convert -c`). */
  compressed: boolean;
  backing?: { name: string; format?: string };
}

function onOff(options: Record<string, string>, key: string): boolean {
  const v = options[key] ?? 'off';
  if (v !== 'on' && v !== 'off') throw new DiskImageError('USAGE', `qcow2 ${key} must be on or off, not '${v}'`, { value: v });
  return v === 'on';
}

function clusterBitsOption(text: string | undefined): number {
  if (text === undefined) return DEFAULT_CLUSTER_BITS;
  const bytes = parseSize(text);
  const bits = Math.log2(bytes);
  if (!isPowerOfTwo(bytes) || bits < MIN_CLUSTER_BITS || bits > MAX_CLUSTER_BITS) throw new DiskImageError('USAGE', `qcow2 cluster_size must be a power of two from 512 to 2M, not ${text}`, { value: text });
  return bits;
}

function versionOption(text: string | undefined): 2 | 3 {
  if (text === undefined || text === '1.1' || text === 'v3') return 3;
  if (text === '0.10' || text === 'v2') return 2;
  throw new DiskImageError('USAGE', `qcow2 compat must be 0.10 or 1.1, not '${text}'`, { value: text });
}

/**
 * The settings of a new qcow2 of `virtualSize` bytes (rounded up to 512, as
 * qemu requires) from its `-o` options, checked: cluster size, compat level
 * and the features it allows, preallocation, compression type and whether
 * every cluster is compressed, the backing file (the backing_file option,
 * or `parent`: its name as the image will record it, and its format).
 */
export function qcow2Settings(o: Record<string, string>, virtualSize: number, parent?: { name: string; format: string }): Qcow2Settings {
  const clusterBits = clusterBitsOption(o.cluster_size);
  const version = versionOption(o.compat);
  const lazyRefcounts = onOff(o, 'lazy_refcounts');
  const extended = onOff(o, 'extended_l2');
  if (version === 2 && (lazyRefcounts || extended)) throw new DiskImageError('USAGE', `qcow2 ${lazyRefcounts ? 'lazy_refcounts' : 'extended_l2'} needs compat=1.1`);
  if (extended && clusterBits < MIN_EXTENDED_L2_CLUSTER_BITS) throw new DiskImageError('USAGE', 'qcow2 extended_l2 needs a cluster_size of at least 16K');
  const compressionType = o.compression_type ?? 'zlib';
  if (compressionType !== 'zlib' && compressionType !== 'zstd') throw new DiskImageError('USAGE', `qcow2 compression_type must be zlib or zstd, not '${compressionType}'`, { value: compressionType });
  if (compressionType === 'zstd' && version === 2) throw new DiskImageError('USAGE', 'qcow2 compression_type=zstd needs compat=1.1');
  const compressed = onOff(o, 'compressed');
  const preallocation = o.preallocation ?? 'off';
  if (preallocation !== 'off' && preallocation !== 'metadata' && preallocation !== 'full') throw new DiskImageError('USAGE', `qcow2 preallocation must be off, metadata or full, not '${preallocation}'`, { value: preallocation });
  const name = o.backing_file ?? parent?.name;
  const format = o.backing_fmt ?? (parent && qemuFormatName(parent.format));
  if (format !== undefined && name === undefined) throw new DiskImageError('USAGE', 'qcow2 backing_fmt needs a backing file');
  if (name !== undefined && preallocation !== 'off') throw new DiskImageError('USAGE', 'a qcow2 with a backing file cannot be preallocated (its clusters would hide the backing file)');
  if (compressed && preallocation !== 'off') throw new DiskImageError('USAGE', 'a compressed qcow2 cannot be preallocated');
  if (compressed && name !== undefined) throw new DiskImageError('USAGE', 'a compressed qcow2 is written whole: it takes no backing file');
  const size = roundUp(virtualSize, 512);
  if (size <= 0) throw new DiskImageError('USAGE', 'qcow2 size must be positive');
  const l1Size = Math.ceil(size / (2 ** clusterBits * l2Entries(clusterBits, extended)));
  if (l1Size * ENTRY_BYTES > QCOW2_MAX_L1_BYTES) throw new DiskImageError('USAGE', `a ${size}-byte qcow2 needs a cluster_size larger than ${2 ** clusterBits} (its L1 table would pass 32 MiB)`, { value: size });
  return { version, clusterBits, size, l1Size, lazyRefcounts, extended, preallocation, compressionType, compressed, ...(name !== undefined && { backing: { name, format } }) };
}

/** The header of a new image whose tables `p` places ("Header"). */
export function newHeader(s: Qcow2Settings, p: Pick<NewImagePlan, 'l1At' | 'refTableAt' | 'refTableClusters'>): Qcow2Header {
  const cs = 2 ** s.clusterBits;
  return {
    version: s.version,
    backingFileOffset: 0,
    backingFileSize: 0,
    clusterBits: s.clusterBits,
    clusterSize: cs,
    size: s.size,
    l1Size: s.l1Size,
    l1TableOffset: p.l1At * cs,
    refcountTableOffset: p.refTableAt * cs,
    refcountTableClusters: p.refTableClusters,
    nbSnapshots: 0,
    snapshotsOffset: 0,
    incompatible: (s.extended ? 1n << BigInt(INCOMPAT_EXTENDED_L2) : 0n) | (s.compressionType === 'zstd' ? 1n << BigInt(INCOMPAT_COMPRESSION) : 0n),
    compatible: s.lazyRefcounts ? 1n << BigInt(COMPAT_LAZY_REFCOUNTS) : 0n,
    autoclear: 0n,
    refcountOrder: WRITTEN_REFCOUNT_ORDER,
    headerLength: s.version === 3 ? WRITTEN_V3_HEADER_LENGTH : V2_HEADER_SIZE,
    compressionType: s.compressionType === 'zstd' ? COMPRESSION_ZSTD : COMPRESSION_ZLIB,
  };
}

/** Every guest cluster of a disk: what preallocation gives a data cluster. */
export function allClusters(s: Qcow2Settings): number[] {
  return Array.from({ length: Math.ceil(s.size / 2 ** s.clusterBits) }, (_, c) => c);
}

