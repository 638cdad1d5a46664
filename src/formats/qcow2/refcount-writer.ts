import { DiskImageError } from '../../errors.js';
import type { ImageFile } from '../../io/image-file.js';
import type { MetadataBudget } from '../../util/metadata-budget.js';
import { ENTRY_BYTES, REFCOUNT_TABLE_FIELDS_OFFSET, WRITTEN_REFCOUNT_BYTES, WRITTEN_REFCOUNT_ORDER } from './constants.js';
import type { Qcow2Header } from './header.js';
import { readRefcountTable } from './refcounts.js';

/** Largest 16-bit refcount. */
const REFCOUNT_MAX = 0xffff;

/** Clusters of the refcount table that replaces one of `clusters` clusters when refcount block `b` is past its end: twice as many, and room for `b` and one more block. */
function grownTableClusters(clusters: number, b: number, clusterSize: number): number {
  return Math.max(2 * clusters, Math.ceil((b + 2) / (clusterSize / ENTRY_BYTES)) + 1);
}

/**
 * The refcount table clusters a RefcountWriter whose table had `first`
 * clusters has taken once the table names `blocks` refcount blocks: the
 * table in use, and the tables it outgrew on the way (each stays in the
 * file, freed). A writer takes blocks in order, so it outgrows a table at
 * the first block past its end.
 */
export function refcountTablesTaken(first: number, blocks: number, clusterSize: number): { inUse: number; outgrown: number } {
  const perCluster = clusterSize / ENTRY_BYTES;
  let inUse = first;
  let outgrown = 0;
  while (inUse * perCluster < blocks) {
    outgrown += inUse;
    inUse = grownTableClusters(inUse, inUse * perCluster, clusterSize);
  }
  return { inUse, outgrown };
}

/**
 * The host clusters of a qcow2 image being written ("Host cluster
 * management"), for refcount_order 4. New clusters are only ever taken at
 * the end (`take` is synchronous, so concurrent writers never share one);
 * their refcounts, the refcount blocks that hold them and a larger refcount
 * table when one is needed are written by `commitTaken`, before the writer
 * lets any L1 or L2 entry point at them (the qcow2 ordering: a crash leaves
 * leaks, never a referenced cluster with refcount 0). Clusters given back
 * are decremented by `commitFreed`, after the entries that pointed at them
 * are gone.
 */
export class RefcountWriter {
  readonly clusterSize: number;
  /** Refcount entries in one block. */
  private readonly perBlock: number;
  /** The refcount table: host offset of each refcount block, 0 for none. */
  private table: number[];
  private tableAt: number;
  private tableClusters: number;
  /** Refcount blocks read or made, by index, as stored (big-endian u16s). */
  private readonly blocks = new Map<number, Uint8Array>();
  private readonly dirtyBlocks = new Set<number>();
  private dirtyTable = false;
  /** Old refcount table clusters to give back once the header points at the new one. */
  private oldTable?: { at: number; clusters: number };
  /** First cluster not yet taken, and the first one whose refcount is not yet committed. */
  private next: number;
  private committed: number;
  /** Runs of clusters (first, count) to decrement once nothing points at them. */
  private freed: [number, number][] = [];

  private constructor(
    private readonly file: ImageFile,
    h: Qcow2Header,
    table: number[],
    next: number,
  ) {
    this.clusterSize = h.clusterSize;
    this.perBlock = h.clusterSize / WRITTEN_REFCOUNT_BYTES;
    this.table = table;
    this.tableAt = h.refcountTableOffset;
    this.tableClusters = h.refcountTableClusters;
    this.next = next;
    this.committed = next;
  }

  /**
   * Reads the refcount table and finds the first free cluster at the end:
   * past the last cluster with a refcount and past the end of the file.
   * The table is charged to the image's `budget` for as long as the layer is
   * open. UNSUPPORTED for refcount widths other than 16 bits.
   */
  static async open(file: ImageFile, h: Qcow2Header, budget: MetadataBudget): Promise<RefcountWriter> {
    if (h.refcountOrder !== WRITTEN_REFCOUNT_ORDER) {
      throw new DiskImageError('UNSUPPORTED', `${file.path}: vdisk writes qcow2 images with 16-bit refcounts only, not ${2 ** h.refcountOrder}-bit`, { path: file.path, field: 'refcount_order', value: h.refcountOrder });
    }
    const table = await readRefcountTable(file, h, budget);
    const w = new RefcountWriter(file, h, table, Math.ceil(file.size / h.clusterSize));
    w.next = w.committed = Math.max(w.next, await w.lastCounted());
    return w;
  }

  /** One past the last cluster whose refcount is not zero. */
  private async lastCounted(): Promise<number> {
    for (let b = this.table.length - 1; b >= 0; b--) {
      if (this.table[b] === 0) continue;
      const block = await this.block(b);
      for (let i = this.perBlock - 1; i >= 0; i--) if (block[i * 2] !== 0 || block[i * 2 + 1] !== 0) return b * this.perBlock + i + 1;
    }
    return 0;
  }

  /** Host byte offset where the next cluster taken will be: the end of the image as allocated. */
  get end(): number {
    return this.next * this.clusterSize;
  }

  /** Takes `n` new contiguous clusters at the end; returns the host offset of the first. Refcounts follow in commitTaken. */
  take(n = 1): number {
    const at = this.next * this.clusterSize;
    this.next += n;
    return at;
  }

  /** Gives back the clusters spanned by [host, host+bytes): decremented by commitFreed, once nothing points at them. */
  free(host: number, bytes: number): void {
    const first = Math.floor(host / this.clusterSize);
    this.freed.push([first, Math.ceil((host + bytes) / this.clusterSize) - first]);
  }

  /** True when clusters were taken or freed since the last commit. */
  get pending(): boolean {
    return this.next > this.committed || this.freed.length > 0;
  }

  /** Refcount block `b`: from the cache, read from the file, or a new zeroed one. */
  private async block(b: number): Promise<Uint8Array> {
    let block = this.blocks.get(b);
    if (block) return block;
    block = new Uint8Array(this.clusterSize);
    const at = this.table[b] ?? 0;
    if (at !== 0) {
      if (at % this.clusterSize !== 0 || at + this.clusterSize > this.file.size) {
        throw new DiskImageError('CORRUPT', `${this.file.path}: qcow2 refcount block ${b} at ${at} is not a cluster inside the file`, { path: this.file.path, field: 'refcount table', value: at });
      }
      await this.file.read(block, at);
    }
    this.blocks.set(b, block);
    return block;
  }

  /** Adds `delta` to the refcount of `cluster` (its block loaded) and returns the new count; CORRUPT when it would leave 0..65535. */
  private async add(cluster: number, delta: number): Promise<number> {
    const b = Math.floor(cluster / this.perBlock);
    const block = await this.block(b);
    const i = (cluster % this.perBlock) * WRITTEN_REFCOUNT_BYTES;
    const v = ((block[i]! << 8) | block[i + 1]!) + delta;
    if (v < 0 || v > REFCOUNT_MAX) throw new DiskImageError('CORRUPT', `${this.file.path}: qcow2 refcount of cluster ${cluster} would become ${v}`, { path: this.file.path, field: 'refcount', value: cluster });
    block[i] = v >> 8;
    block[i + 1] = v & 0xff;
    this.dirtyBlocks.add(b);
    return v;
  }

  /**
   * Gives every refcount block index a host cluster, taken at the end, and
   * the table enough entries for all of them: a larger table is taken at
   * the end too (twice the size), its old clusters freed once the header
   * points at the new one. Loops until everything taken is covered.
   */
  private coverTaken(): void {
    for (let c = this.committed; c < this.next; ) {
      const b = Math.floor(c / this.perBlock);
      if (b >= this.table.length) this.growTable(b);
      if (this.table[b] === 0) {
        this.table[b] = this.take();
        this.blocks.set(b, new Uint8Array(this.clusterSize));
        this.dirtyTable = true;
      }
      c = (b + 1) * this.perBlock;
    }
  }

  private growTable(b: number): void {
    const entriesPerCluster = this.clusterSize / ENTRY_BYTES;
    const clusters = grownTableClusters(this.tableClusters, b, this.clusterSize);
    if (this.oldTable === undefined) this.oldTable = { at: this.tableAt, clusters: this.tableClusters };
    else this.free(this.tableAt, this.tableClusters * this.clusterSize);
    this.tableAt = this.take(clusters);
    this.tableClusters = clusters;
    this.table = [...this.table, ...new Array<number>(clusters * entriesPerCluster - this.table.length).fill(0)];
    this.dirtyTable = true;
  }

  /** Writes the dirty refcount blocks, then fsyncs; drops every block from memory (they are read again when next needed). */
  private async writeBlocks(): Promise<void> {
    for (const b of this.dirtyBlocks) await this.file.write(this.blocks.get(b)!, this.table[b]!);
    this.dirtyBlocks.clear();
    this.blocks.clear();
    await this.file.sync();
  }

  /**
   * Commits the clusters taken since the last commit: grows the file over
   * them, covers them with refcount blocks (and a larger table), sets their
   * refcounts to 1 and writes the blocks, fsync; then the table (and, when it
   * moved, the header fields naming it), fsync. Until the table is written,
   * the new blocks are referenced by nothing: a crash leaves leaks.
   */
  async commitTaken(): Promise<void> {
    if (this.next === this.committed) return;
    this.coverTaken();
    for (let c = this.committed; c < this.next; c++) await this.add(c, 1);
    this.committed = this.next;
    if (this.file.size < this.end) await this.file.truncate(this.end);
    await this.writeBlocks();
    if (!this.dirtyTable) return;
    const bytes = new Uint8Array(this.tableClusters * this.clusterSize);
    const view = new DataView(bytes.buffer);
    this.table.forEach((at, i) => view.setBigUint64(i * ENTRY_BYTES, BigInt(at), false));
    await this.file.write(bytes, this.tableAt);
    await this.file.sync();
    this.dirtyTable = false;
    if (!this.oldTable) return;
    const fields = new Uint8Array(12);
    new DataView(fields.buffer).setBigUint64(0, BigInt(this.tableAt), false);
    new DataView(fields.buffer).setUint32(8, this.tableClusters, false);
    await this.file.write(fields, REFCOUNT_TABLE_FIELDS_OFFSET);
    await this.file.sync();
    this.free(this.oldTable.at, this.oldTable.clusters * this.clusterSize);
    this.oldTable = undefined;
  }

  /**
   * Decrements the clusters given back (nothing points at them any more),
   * writes the blocks, fsync. Returns the runs of clusters whose refcount
   * reached 0 (first, count), whose space can be given back to the file system.
   */
  async commitFreed(): Promise<[number, number][]> {
    const freed = this.freed;
    this.freed = [];
    const unused: [number, number][] = [];
    for (const [first, n] of freed) {
      for (let c = first; c < first + n; c++) {
        if ((await this.add(c, -1)) > 0) continue;
        const last = unused[unused.length - 1];
        if (last && last[0] + last[1] === c) last[1]++;
        else unused.push([c, 1]);
      }
    }
    if (freed.length > 0) await this.writeBlocks();
    return unused;
  }

  /** The refcount table's place, for the header. */
  get tablePlace(): { at: number; clusters: number } {
    return { at: this.tableAt, clusters: this.tableClusters };
  }
}
