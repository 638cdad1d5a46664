import type { ImageFile } from '../../io/image-file.js';
import { ENTRY_BYTES, EXTENDED_ENTRY_BYTES, WRITTEN_REFCOUNT_BYTES } from './constants.js';
import { l2Entries } from './cluster-map.js';
import { ALL_ALLOCATED, copiedEntry, setEntryWords, wordsToBytes } from './l2-entry.js';

/** What a new image holds: its geometry and which guest clusters get a data cluster. */
export interface NewImageContents {
  clusterBits: number;
  extended: boolean;
  /** Entries of the L1 table. */
  l1Size: number;
  /** Guest clusters stored, in increasing order; each gets a data cluster, in that order, after the tables. */
  dataClusters: number[];
}

/**
 * Where everything of a new image goes, in clusters from the start of the
 * file, in the order qemu uses: the header cluster, the refcount table, the
 * refcount blocks, the L1 table, one L2 table per L1 entry with data (in L1
 * order), then the data clusters in guest order. Every cluster of it has
 * refcount 1, so the refcount blocks cover exactly `end` clusters.
 */
export interface NewImagePlan extends NewImageContents {
  clusterSize: number;
  refTableAt: number;
  refTableClusters: number;
  refBlocksAt: number;
  refBlocks: number;
  l1At: number;
  l1Clusters: number;
  /** L1 indexes that have an L2 table, increasing; the k-th table is at l2At + k clusters. */
  l2Indexes: number[];
  l2At: number;
  dataAt: number;
  /** Clusters in the image. */
  end: number;
}

/**
 * The refcount blocks that cover `others` clusters and themselves, and the
 * refcount table clusters that name them (`tableFor` a count of blocks),
 * counted up from one block: the smallest count that covers everything,
 * which is where a writer taking clusters one after another stops too.
 */
export function refcountCover(others: number, clusterSize: number, tableFor: (blocks: number) => number): { blocks: number; tableClusters: number } {
  const perBlock = clusterSize / WRITTEN_REFCOUNT_BYTES;
  let blocks = 1;
  let tableClusters = tableFor(blocks);
  for (;;) {
    const b = Math.ceil((others + tableClusters + blocks) / perBlock);
    const t = tableFor(b);
    if (b === blocks && t === tableClusters) return { blocks, tableClusters };
    blocks = b;
    tableClusters = t;
  }
}

/** Lays out a new image (see NewImagePlan): the refcount blocks and table are sized to cover every cluster, themselves included. */
export function planNewImage(c: NewImageContents): NewImagePlan {
  const clusterSize = 2 ** c.clusterBits;
  const perTable = l2Entries(c.clusterBits, c.extended);
  const l2Indexes = [...new Set(c.dataClusters.map((g) => Math.floor(g / perTable)))];
  const l1Clusters = Math.ceil((c.l1Size * ENTRY_BYTES) / clusterSize);
  const fixed = 1 + l1Clusters + l2Indexes.length + c.dataClusters.length;
  const { blocks: refBlocks, tableClusters: refTableClusters } = refcountCover(fixed, clusterSize, (blocks) => Math.max(1, Math.ceil((blocks * ENTRY_BYTES) / clusterSize)));
  const refBlocksAt = 1 + refTableClusters;
  const l1At = refBlocksAt + refBlocks;
  const l2At = l1At + l1Clusters;
  const dataAt = l2At + l2Indexes.length;
  return { ...c, clusterSize, refTableAt: 1, refTableClusters, refBlocksAt, refBlocks, l1At, l1Clusters, l2Indexes, l2At, dataAt, end: dataAt + c.dataClusters.length };
}

/** The big-endian bytes of 64-bit entries. */
function entryBytes(entries: bigint[], bytes: number): Uint8Array {
  const out = new Uint8Array(bytes);
  const view = new DataView(out.buffer);
  entries.forEach((e, i) => view.setBigUint64(i * ENTRY_BYTES, e, false));
  return out;
}

/**
 * Writes every table of `p` into `file` after `header` (the encoded first
 * cluster): refcount table and blocks (refcount 1 for each of the `end`
 * clusters), the L1 table and the L2 tables, their entries pointing, with
 * OFLAG_COPIED, at the data clusters. The data clusters are left to the
 * caller; the file is not grown over them.
 */
export async function writeNewImage(file: ImageFile, p: NewImagePlan, header: Uint8Array): Promise<void> {
  const cs = p.clusterSize;
  await file.write(header, 0);
  const blocks = Array.from({ length: p.refBlocks }, (_, b) => BigInt((p.refBlocksAt + b) * cs));
  await file.write(entryBytes(blocks, p.refTableClusters * cs), p.refTableAt * cs);
  const perBlock = cs / WRITTEN_REFCOUNT_BYTES;
  for (let b = 0; b < p.refBlocks; b++) {
    const block = new Uint8Array(cs);
    for (let i = 0; i < perBlock && b * perBlock + i < p.end; i++) block[i * WRITTEN_REFCOUNT_BYTES + 1] = 1;
    await file.write(block, (p.refBlocksAt + b) * cs);
  }
  const l1 = new Array<bigint>(p.l1Size).fill(0n);
  p.l2Indexes.forEach((i, k) => (l1[i] = copiedEntry((p.l2At + k) * cs)));
  await file.write(entryBytes(l1, p.l1Clusters * cs), p.l1At * cs);
  const perTable = l2Entries(p.clusterBits, p.extended);
  const step = (p.extended ? EXTENDED_ENTRY_BYTES : ENTRY_BYTES) / 4;
  let k = 0;
  for (const [t, i] of p.l2Indexes.entries()) {
    const words = new Uint32Array(cs / 4);
    for (; k < p.dataClusters.length && Math.floor(p.dataClusters[k]! / perTable) === i; k++) {
      const w = (p.dataClusters[k]! % perTable) * step;
      setEntryWords(words, w, copiedEntry((p.dataAt + k) * cs));
      if (p.extended) words.set([ALL_ALLOCATED.zero, ALL_ALLOCATED.alloc], w + 2);
    }
    await file.write(wordsToBytes(words), (p.l2At + t) * cs);
  }
}
