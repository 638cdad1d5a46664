import { ENTRY_BYTES, MAX_WRITTEN_REFCOUNT, WRITTEN_REFCOUNT_BYTES } from './constants.js';

/** Where the last tables of an image written front to back go, and their bytes: the L1 table, the refcount blocks not written yet, the refcount table. */
export interface RefcountTail {
  l1At: number;
  /** The remaining refcount blocks, back to back, right after the L1 table. */
  blocks: Uint8Array;
  tableAt: number;
  table: Uint8Array;
  tableClusters: number;
}

/**
 * The refcounts of a qcow2 written front to back ("Refcount table",
 * "Refcount block entry"), kept one refcount block at a time: every byte
 * is appended after the last, so a block's counts are final once the file
 * passes the clusters it covers, and it is written there, right behind
 * them, in the cluster that opens the next block's range. Memory is one
 * block and the refcount table's entries, whatever the disk's size.
 *
 * The caller keeps each thing it appends inside one block's range (`room`
 * says where the range ends) and adds a reference to every cluster the
 * thing touches: one per compressed cluster whose data touches it (as
 * `qemu-img check` counts them), one for a table or an uncompressed cluster.
 */
export class AppendedRefcounts {
  private readonly perBlock: number;
  private block: Uint16Array;
  private index = 0;
  /** Offsets of the blocks written so far, in order: the refcount table's first entries. */
  private readonly written: number[] = [];

  constructor(private readonly clusterSize: number) {
    this.perBlock = clusterSize / WRITTEN_REFCOUNT_BYTES;
    this.block = new Uint16Array(this.perBlock);
  }

  /** The first byte past the clusters the current block covers. */
  get blockEnd(): number {
    return (this.index + 1) * this.perBlock * this.clusterSize;
  }

  /** True when the cluster holding byte `at` (in the current block) can take one more reference. */
  canAdd(at: number): boolean {
    return this.block[this.slot(at)]! < MAX_WRITTEN_REFCOUNT;
  }

  /** Adds a reference to each cluster that bytes [from, to) touch, all in the current block. */
  add(from: number, to: number): void {
    for (let at = from - (from % this.clusterSize); at < to; at += this.clusterSize) this.block[this.slot(at)]!++;
  }

  /** The current block's bytes, to be written at `at` (= blockEnd), which the next block covers and counts. */
  close(at: number): Uint8Array {
    const bytes = encodeBlock(this.block);
    this.written.push(at);
    this.index++;
    this.block.fill(0);
    this.add(at, at + this.clusterSize);
    return bytes;
  }

  /**
   * Places the last tables after the cluster-aligned offset `at`: the L1
   * table (`l1Clusters`), then the current block and any blocks still
   * needed to cover everything up to the end, then the refcount table
   * listing every block, each of these clusters counted once.
   */
  tail(at: number, l1Clusters: number): RefcountTail {
    const cs = this.clusterSize;
    const first = at / cs;
    let blocks = this.index + 1;
    let tableClusters = 1;
    for (;;) {
      const end = first + l1Clusters + (blocks - this.index) + tableClusters;
      const needBlocks = Math.max(this.index + 1, Math.ceil(end / this.perBlock));
      const needTable = Math.ceil((needBlocks * ENTRY_BYTES) / cs);
      if (needBlocks === blocks && needTable === tableClusters) break;
      blocks = needBlocks;
      tableClusters = needTable;
    }
    const blocksAt = at + l1Clusters * cs;
    const tableAt = blocksAt + (blocks - this.index) * cs;
    const end = tableAt + tableClusters * cs;
    const counts = new Uint16Array((blocks - this.index) * this.perBlock);
    counts.set(this.block);
    for (let c = first; c < end / cs; c++) counts[c - this.index * this.perBlock]!++;
    const offsets = [...this.written, ...Array.from({ length: blocks - this.index }, (_, k) => blocksAt + k * cs)];
    const table = new Uint8Array(tableClusters * cs);
    const view = new DataView(table.buffer);
    offsets.forEach((o, k) => view.setBigUint64(k * ENTRY_BYTES, BigInt(o), false));
    return { l1At: at, blocks: encodeBlock(counts), tableAt, table, tableClusters };
  }

  /** Index in the current block of the cluster holding byte `at`. */
  private slot(at: number): number {
    return Math.floor(at / this.clusterSize) - this.index * this.perBlock;
  }
}

/** 16-bit refcounts as big-endian bytes. */
function encodeBlock(counts: Uint16Array): Uint8Array {
  const out = new Uint8Array(counts.length * WRITTEN_REFCOUNT_BYTES);
  const view = new DataView(out.buffer);
  counts.forEach((n, i) => view.setUint16(i * WRITTEN_REFCOUNT_BYTES, n, false));
  return out;
}
