import { COMPRESSED_SECTOR } from './constants.js';

/**
 * What one L2 entry says of its guest cluster ("Cluster mapping", L2 table
 * entry; "Extended L2 Entries"): unallocated, all zeros, stored at a host
 * offset (with, for extended entries, which subclusters are allocated or
 * zero), or compressed.
 */
export type ClusterEntry =
  | { type: 'unallocated' }
  | { type: 'zero' }
  | { type: 'normal'; host: number; copied: boolean; alloc: number; zero: number }
  | { type: 'compressed'; host: number; storedLength: number };

/** Bit 62 of an L2 entry (bit 30 of its high word): a compressed cluster ("Cluster mapping"). */
const HI_COMPRESSED = 0x40000000;
/** Bit 63 (bit 31 of the high word): OFLAG_COPIED, refcount exactly one ("Cluster mapping"). */
const HI_COPIED = 0x80000000;
/** Bits 32-55 of a host cluster offset, in the high word ("Standard Cluster Descriptor", bits 9-55). */
const HI_OFFSET = 0x00ffffff;
/** Bits 9-31 of a host cluster offset, in the low word. */
const LO_OFFSET = 0xfffffe00;
/** Bit 0: the cluster reads as zeros (version 3 standard entries only: "Standard Cluster Descriptor"). */
const LO_ZERO = 1;
/** Every subcluster allocated: the bitmap a standard (not extended) entry stands for. */
const ALL_SUBCLUSTERS = 0xffffffff;

/** The host offset of a standard descriptor or an L1 entry (bits 9-55). */
export function tableOffset(hi: number, lo: number): number {
  return (hi & HI_OFFSET) * 2 ** 32 + ((lo & LO_OFFSET) >>> 0);
}

/** True when the OFLAG_COPIED bit (63) of an L1 or L2 entry is set. */
export function isCopied(hi: number): boolean {
  return (hi & HI_COPIED) !== 0;
}

/** True when bit 62 (compressed) of an L2 entry is set. */
export function isCompressed(hi: number): boolean {
  return (hi & HI_COMPRESSED) !== 0;
}

/**
 * A compressed cluster's host offset and stored length ("Compressed
 * Clusters Descriptor", x = 62 - (cluster_bits - 8)): bits 0..x-1 the byte
 * offset, bits x..61 the additional 512-byte sectors beyond the one holding
 * the offset, so the data runs to the end of the last of them.
 */
export function compressedExtent(hi: number, lo: number, clusterBits: number): { host: number; storedLength: number } {
  const entry = (BigInt(hi) << 32n) | BigInt(lo >>> 0);
  const x = BigInt(62 - (clusterBits - 8));
  const host = Number(entry & ((1n << x) - 1n));
  const sectors = Number((entry >> x) & ((1n << (62n - x)) - 1n));
  return { host, storedLength: (sectors + 1) * COMPRESSED_SECTOR - (host % COMPRESSED_SECTOR) };
}

/**
 * The L2 descriptor of a compressed cluster whose `length` bytes start at
 * byte `host` ("Compressed Clusters Descriptor"): bit 62, the offset in
 * bits 0..x-1, and in bits x..61 the 512-byte sectors the data reaches past
 * the one holding its first byte. OFLAG_COPIED stays clear, as the spec
 * requires of compressed clusters.
 */
export function compressedEntry(host: number, length: number, clusterBits: number): bigint {
  const x = BigInt(62 - (clusterBits - 8));
  const more = Math.floor((host + length - 1) / COMPRESSED_SECTOR) - Math.floor(host / COMPRESSED_SECTOR);
  return (1n << 62n) | (BigInt(more) << x) | BigInt(host);
}

/**
 * Decodes the L2 entry `hi`:`lo` (and, for extended entries, the bitmap
 * words `bitmapHi`:`bitmapLo`). `v3` enables the zero flag of standard
 * entries; `dataFile` lets an allocated entry have host offset 0 ("Standard
 * Cluster Descriptor": only with an external data file, and bit 63 set).
 */
export function decodeL2Entry(hi: number, lo: number, o: { clusterBits: number; v3: boolean; extended: boolean; dataFile: boolean; bitmapHi?: number; bitmapLo?: number }): ClusterEntry {
  if (isCompressed(hi)) return { type: 'compressed', ...compressedExtent(hi, lo, o.clusterBits) };
  const host = tableOffset(hi, lo);
  const copied = isCopied(hi);
  const allocated = host !== 0 || (o.dataFile && copied);
  if (o.extended) {
    const alloc = (o.bitmapLo ?? 0) >>> 0;
    const zero = (o.bitmapHi ?? 0) >>> 0;
    if (alloc === 0 && zero === 0) return { type: 'unallocated' };
    return { type: 'normal', host, copied, alloc, zero };
  }
  if (o.v3 && (lo & LO_ZERO) !== 0) return { type: 'zero' };
  if (!allocated) return { type: 'unallocated' };
  return { type: 'normal', host, copied, alloc: ALL_SUBCLUSTERS, zero: 0 };
}

/** Bit 63 of a 64-bit entry, OFLAG_COPIED ("Cluster mapping"), as a bigint. */
const COPIED_BIT = 1n << 63n;
/** Bit 0 of an L2 entry, the zero flag of a version 3 standard descriptor ("Standard Cluster Descriptor"). */
const ZERO_BIT = 1n;

/**
 * An L1 entry or a standard L2 descriptor pointing at `host` (a cluster
 * boundary), with OFLAG_COPIED set: every table and cluster vdisk writes has
 * refcount one ("Cluster mapping"). 0 for none.
 */
export function copiedEntry(host: number): bigint {
  return host === 0 ? 0n : BigInt(host) | COPIED_BIT;
}

/** A version 3 standard L2 descriptor that reads as zeros and holds no cluster ("Standard Cluster Descriptor", bit 0). */
export const ZERO_ENTRY = ZERO_BIT;

/** Both words of an extended L2 entry's subcluster bitmap: allocation bits low, zero bits high ("Extended L2 Entries"). */
export interface SubclusterBits {
  alloc: number;
  zero: number;
}

/** Every subcluster allocated: what an extended entry vdisk writes for a whole cluster of data. */
export const ALL_ALLOCATED: SubclusterBits = { alloc: ALL_SUBCLUSTERS, zero: 0 };

/** Every subcluster zero and none allocated: an extended entry that reads as zeros. */
export const ALL_ZERO: SubclusterBits = { alloc: 0, zero: ALL_SUBCLUSTERS };

/** Stores a 64-bit entry into big-endian word pairs at word `w` (the form ClusterMap keeps tables in). */
export function setEntryWords(words: Uint32Array, w: number, entry: bigint): void {
  words[w] = Number(entry >> 32n);
  words[w + 1] = Number(entry & 0xffffffffn);
}

/** The big-endian bytes of a table held as big-endian words. */
export function wordsToBytes(words: Uint32Array): Uint8Array {
  const out = new Uint8Array(words.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < words.length; i++) view.setUint32(i * 4, words[i]!, false);
  return out;
}
