import { DiskImageError } from '../../errors.js';
import type { ByteSource } from '../../io/byte-source.js';
import type { MetadataBudget } from '../../util/metadata-budget.js';
import { ENTRY_BYTES } from './constants.js';
import { bigEndianU32s } from './cluster-map.js';
import type { Qcow2Header } from './header.js';
import { tableOffset } from './l2-entry.js';
import { limitNote, QCOW2_MAX_REFCOUNT_TABLE_BYTES } from '../../limits.js';


/** Refcounts a check keeps saturate here (a refcount of 65535 or more is as good as "many" for comparing). */
const COUNT_MAX = 0xffff;

/**
 * The refcount table ("Host cluster management"): the offset of every
 * refcount block, 0 for one not allocated. CORRUPT when the table lies
 * outside the file, is misaligned or is larger than qemu's 8 MiB limit.
 * Charged to `budget` (8 bytes an entry) before it is read.
 */
export async function readRefcountTable(file: ByteSource, h: Qcow2Header, budget: MetadataBudget): Promise<number[]> {
  const bytes = h.refcountTableClusters * h.clusterSize;
  const bad = (why: string): DiskImageError => new DiskImageError('CORRUPT', `${file.path}: qcow2 refcount table ${why}`, { path: file.path, field: 'refcount_table_offset', value: h.refcountTableOffset });
  if (bytes > QCOW2_MAX_REFCOUNT_TABLE_BYTES) throw bad(`of ${h.refcountTableClusters} clusters is larger than ${QCOW2_MAX_REFCOUNT_TABLE_BYTES} bytes (${limitNote('QCOW2_MAX_REFCOUNT_TABLE_BYTES', QCOW2_MAX_REFCOUNT_TABLE_BYTES)})`);
  if (h.refcountTableOffset % h.clusterSize !== 0 || h.refcountTableOffset < h.clusterSize) throw bad(`at ${h.refcountTableOffset} is not a cluster boundary after the header`);
  if (h.refcountTableOffset + bytes > file.size) throw bad(`at ${h.refcountTableOffset} runs past the end of the file (${file.size} bytes)`);
  budget.charge(bytes, 'qcow2 refcount table');
  const buf = new Uint8Array(bytes);
  await file.read(buf, h.refcountTableOffset);
  const words = bigEndianU32s(buf);
  const out: number[] = [];
  for (let i = 0; i < bytes / ENTRY_BYTES; i++) out.push(tableOffset(words[2 * i]!, words[2 * i + 1]!));
  return out;
}

/** Refcount entries in one block: cluster_size * 8 / refcount_bits ("Host cluster management"). */
export function blockEntries(h: Qcow2Header): number {
  return (h.clusterSize * 8) / 2 ** h.refcountOrder;
}

/**
 * The refcounts of one block ("Refcount block entry"): big-endian integers of
 * refcount_bits each, or, below 8 bits, packed from the least significant
 * bit of each byte. Saturated at COUNT_MAX.
 */
export function decodeRefcounts(block: Uint8Array, refcountOrder: number): Uint16Array {
  const bits = 2 ** refcountOrder;
  const n = (block.length * 8) / bits;
  const out = new Uint16Array(n);
  const view = new DataView(block.buffer, block.byteOffset, block.length);
  for (let i = 0; i < n; i++) {
    if (bits < 8) out[i] = (block[(i * bits) >> 3]! >> ((i * bits) & 7)) & ((1 << bits) - 1);
    else if (bits === 8) out[i] = block[i]!;
    else if (bits === 16) out[i] = view.getUint16(i * 2, false);
    else if (bits === 32) out[i] = Math.min(COUNT_MAX, view.getUint32(i * 4, false));
    else out[i] = view.getBigUint64(i * 8, false) > BigInt(COUNT_MAX) ? COUNT_MAX : Number(view.getBigUint64(i * 8, false));
  }
  return out;
}

/** Adds one reference to each cluster of `counts` in [from, from+n), saturating at COUNT_MAX. */
export function reference(counts: Uint16Array, from: number, n: number): void {
  for (let c = from; c < from + n && c < counts.length; c++) if (counts[c]! < COUNT_MAX) counts[c] = counts[c]! + 1;
}
