import { dirname, relative } from 'node:path';
import { readCompressed } from '../../chain/decompress.js';
import { DiskImageError } from '../../errors.js';
import { ZERO_MIB, isAllZero } from '../../util/zero.js';
import { blockPieces } from '../guest-range.js';
import type { Layer, ParentRef, WritableLayer } from '../layer.js';
import type { ClusterMap } from './cluster-map.js';
import { AUTOCLEAR_OFFSET, COMPAT_LAZY_REFCOUNTS, ENTRY_BYTES, INCOMPAT_DIRTY, INCOMPAT_EXTENDED_L2, INCOMPATIBLE_OFFSET, L1_SIZE_OFFSET, L1_TABLE_OFFSET_OFFSET, SIZE_FIELDS_END, SIZE_OFFSET } from './constants.js';
import { encodeHeaderCluster, encodeU64, rawExtensions } from './header-writer.js';
import { hasBit } from './header.js';
import { ALL_ALLOCATED, ALL_ZERO, ZERO_ENTRY, copiedEntry, isCopied, setEntryWords, tableOffset, wordsToBytes, type ClusterEntry, type SubclusterBits } from './l2-entry.js';
import { qemuFormatName } from './parent-ref.js';
import type { Qcow2Parts } from './parts.js';
import { Qcow2Layer } from './reader.js';
import type { RefcountWriter } from './refcount-writer.js';
import { WriteGate } from './write-gate.js';

/** Default WritableQcow2Layer.pinnedLimit: 16 MiB of changed L2 tables (a 512-byte-cluster image holds one per 32 KiB written). */
const PINNED_LIMIT = 16 * 1024 * 1024;

/** Sector: the write unit of an image whose clusters need no parent bytes around a write. */
const SECTOR = 512;

/**
 * A qcow2 image open for writing (its active L1 table). Data goes straight
 * to its cluster: in place when the cluster is the image's own (refcount 1,
 * OFLAG_COPIED), else into a new cluster taken at the end of the file (with
 * the old contents around the write: a compressed or shared cluster). L2
 * tables changed are held in memory (pinned in the cluster map) until
 * `flush`, which orders the writes the qcow2 way ("Host cluster
 * management"): refcounts of new clusters (and new refcount blocks and
 * table) first, fsync; new L2 tables, fsync; changed L2 and L1 entries,
 * fsync; then refcounts of clusters no longer used go down, fsync. A crash
 * at any point leaves leaks at worst, never an entry pointing at a cluster
 * without its refcount. Zeros use the version 3 zero flag (or extended L2
 * zero bits); version 2 drops the cluster where nothing shows through, and
 * writes zeros as data over a backing file.
 */
export class WritableQcow2Layer extends Qcow2Layer implements WritableLayer {
  private readonly extended: boolean;
  private readonly step: number;
  /** L1 indexes whose L2 table is new (at a new cluster) or changed in place since the last flush. */
  private readonly fresh = new Set<number>();
  private readonly changed = new Set<number>();
  /** Guest clusters being moved to a new cluster with their old contents around a write. */
  private readonly filling = new Map<number, Promise<void>>();
  /** The first change's header update, until the next flush. */
  private beginning?: Promise<void>;
  private readonly gate = new WriteGate();
  /** Bytes of changed L2 tables held in memory past which a write flushes them. */
  pinnedLimit = PINNED_LIMIT;

  constructor(
    parts: Qcow2Parts,
    clusters: ClusterMap,
    parentRef: ParentRef | undefined,
    private readonly refs: RefcountWriter,
  ) {
    super(parts, clusters, parentRef);
    this.extended = hasBit(parts.header.incompatible, INCOMPAT_EXTENDED_L2);
    this.step = this.extended ? 4 : 2;
  }

  /** Sectors; whole clusters over a backing file (the rest of a new cluster must hold the parent's bytes) or with extended L2 entries. */
  get writeUnit(): number {
    return this.parentRef || this.extended ? this.grain : SECTOR;
  }

  private get lazy(): boolean {
    return hasBit(this.parts.header.compatible, COMPAT_LAZY_REFCOUNTS);
  }

  /**
   * Before the first change: clears the autoclear bits (vdisk does not keep
   * bitmaps up to date: "Header", bytes 88-95) and, with lazy refcounts,
   * sets the dirty bit until the next flush.
   */
  private begin(): Promise<void> {
    this.beginning ??= this.markBegun();
    return this.beginning;
  }

  private async markBegun(): Promise<void> {
    const h = this.parts.header;
    const file = this.parts.file;
    const clear = h.autoclear !== 0n;
    if (clear) {
      h.autoclear = 0n;
      await file.write(encodeU64(0n), AUTOCLEAR_OFFSET);
    }
    if (this.lazy) {
      h.incompatible |= 1n << BigInt(INCOMPAT_DIRTY);
      await file.write(encodeU64(h.incompatible), INCOMPATIBLE_OFFSET);
    }
    if (clear || this.lazy) await file.sync();
  }

  /** L2 table `i`, pinned for changes: the image's own in place, else a copy (or a new table) at a new cluster. */
  private async editable(i: number): Promise<Uint32Array> {
    const m = this.clusters;
    const pinned = m.pinned.get(i);
    if (pinned) return pinned;
    const at = m.l2Offset(i);
    const own = at !== 0 && isCopied(m.l1[2 * i]!);
    const read = at === 0 ? new Uint32Array(this.grain / 4) : await m.table(i);
    const again = m.pinned.get(i);
    if (again) return again;
    const words = own ? read! : read!.slice();
    if (!own) {
      setEntryWords(m.l1, 2 * i, copiedEntry(this.refs.take()));
      if (at !== 0) this.refs.free(at, this.grain);
      this.fresh.add(i);
    } else this.changed.add(i);
    m.pinned.set(i, words);
    return words;
  }

  /** Sets entry `j` of pinned table `words`: a descriptor and, for extended entries, its subcluster bits. */
  private setEntry(words: Uint32Array, j: number, entry: bigint, bits: SubclusterBits): void {
    setEntryWords(words, j * this.step, entry);
    if (this.extended) words.set([bits.zero, bits.alloc], j * this.step + 2);
  }

  /**
   * Gives back the host clusters entry `j` of `words` (decoded: `e`) uses,
   * once the entry replacing it is durable: a compressed cluster's sectors,
   * or the host cluster of a standard entry (a zero cluster may keep one).
   */
  private release(words: Uint32Array, j: number, e: ClusterEntry): void {
    if (e.type === 'compressed') return this.refs.free(e.host, e.storedLength);
    const host = tableOffset(words[j * this.step]!, words[j * this.step + 1]!);
    if (host !== 0) this.refs.free(host, this.grain);
  }

  /** Pins the L2 table of guest cluster `c` for changes; returns it and the entry's index (read the entry after the await, synchronously with the change). */
  private async place(c: number): Promise<{ words: Uint32Array; j: number }> {
    const i = Math.floor(c / this.clusters.perTable);
    return { words: await this.editable(i), j: c - i * this.clusters.perTable };
  }

  /** The entry of guest cluster `c` as it stands, without pinning its table. */
  private async current(c: number): Promise<ClusterEntry> {
    const i = Math.floor(c / this.clusters.perTable);
    const table = await this.clusters.table(i);
    return table ? this.clusters.entry(table, c - i * this.clusters.perTable) : { type: 'unallocated' };
  }

  /** True when the image owns all of `e`'s cluster: writes go in place. */
  private inPlace(e: ClusterEntry): e is Extract<ClusterEntry, { type: 'normal' }> {
    return e.type === 'normal' && e.copied && e.host !== 0 && e.alloc === ALL_ALLOCATED.alloc;
  }

  /** Guest bytes of cluster `c`, clamped to the disk. */
  private clusterLength(c: number): number {
    return Math.min(this.grain, this.virtualSize - c * this.grain);
  }

  /**
   * Writes each cluster's piece in place or into a new cluster; pieces that
   * land next to each other in the file (new clusters are taken in order)
   * go out in one write.
   */
  async writeAt(data: Uint8Array, offset: number): Promise<void> {
    await this.gate.shared(() => this.writePieces(data, offset));
    await this.flushWhenLarge();
  }

  private async writePieces(data: Uint8Array, offset: number): Promise<void> {
    await this.begin();
    const runs: { at: number; from: number; to: number }[] = [];
    const jobs: Promise<void>[] = [];
    for (const p of blockPieces(offset, data.length, this.grain)) {
      const host = await this.hostFor(p.block, data.subarray(p.at, p.at + p.length), p.inBlock, jobs);
      if (host === undefined) continue;
      const last = runs[runs.length - 1];
      if (last && last.to === p.at && last.at + (last.to - last.from) === host + p.inBlock) last.to = p.at + p.length;
      else runs.push({ at: host + p.inBlock, from: p.at, to: p.at + p.length });
    }
    await Promise.all([...jobs, ...runs.map((r) => this.parts.file.write(data.subarray(r.from, r.to), r.at))]);
  }

  /** Writes `piece` at `inCluster` of guest cluster `c`: in place, or into a new cluster. */
  private async writeInCluster(c: number, piece: Uint8Array, inCluster: number): Promise<void> {
    const jobs: Promise<void>[] = [];
    const host = await this.hostFor(c, piece, inCluster, jobs);
    if (host !== undefined) jobs.push(this.parts.file.write(piece, host + inCluster));
    await Promise.all(jobs);
  }

  /**
   * Where `piece` (at `inCluster` of guest cluster `c`) goes: the host
   * cluster to write it into (the image's own, or a new one taken at the
   * end when nothing around the write must be kept), or undefined when a job
   * pushed on `jobs` writes it: after the cluster's pending move, or as part
   * of moving the cluster's old contents to a new one.
   */
  private async hostFor(c: number, piece: Uint8Array, inCluster: number, jobs: Promise<void>[]): Promise<number | undefined> {
    const { words, j } = await this.place(c);
    const e = this.clusters.entry(words, j);
    if (this.inPlace(e)) {
      const moving = this.filling.get(c);
      if (!moving) return e.host;
      jobs.push(moving.then(() => this.parts.file.write(piece, e.host + inCluster)));
      return undefined;
    }
    const host = this.refs.take();
    this.release(words, j, e);
    this.setEntry(words, j, copiedEntry(host), ALL_ALLOCATED);
    const whole = inCluster === 0 && piece.length === this.clusterLength(c);
    const blank = e.type === 'zero' || (e.type === 'unallocated' && !this.parentRef);
    if (whole || blank) return host;
    const fill = this.moveCluster(e, c, host, piece, inCluster);
    this.filling.set(c, fill);
    jobs.push(
      fill.finally(() => {
        if (this.filling.get(c) === fill) this.filling.delete(c);
      }),
    );
    return undefined;
  }

  /** Writes guest cluster `c` whole to `host`: its old contents (entry `e`) with `piece` over them at `inCluster`. */
  private async moveCluster(e: ClusterEntry, c: number, host: number, piece: Uint8Array, inCluster: number): Promise<void> {
    const base = c * this.grain;
    const buf = new Uint8Array(this.clusterLength(c));
    const reads: Promise<void>[] = [];
    for (const run of this.clusters.clusterRuns(e, c, base, base + buf.length)) {
      const part = buf.subarray(run.offset - base, run.offset - base + run.length);
      if (run.kind === 'stored') reads.push(run.source.read(part, run.at));
      else if (run.kind === 'compressed') reads.push(readCompressed(run, part));
      else if (run.kind === 'absent' && this.parentRef) throw new DiskImageError('UNSUPPORTED', `${this.path}: a partial write into a cluster that shows its backing file`, { path: this.path });
    }
    await Promise.all(reads);
    buf.set(piece, inCluster);
    await this.parts.file.write(buf, host);
  }

  /**
   * Whole clusters: the zero flag (version 3, extended: the zero bits), or
   * no cluster (version 2 without a backing file), the old cluster freed;
   * version 2 over a backing file, and parts of clusters, get zeros written.
   * Clusters that read as zeros already are left alone, their tables too.
   */
  async writeZeroes(offset: number, length: number): Promise<void> {
    await this.gate.shared(() => this.zeroPieces(offset, length));
    await this.flushWhenLarge();
  }

  private async zeroPieces(offset: number, length: number): Promise<void> {
    await this.begin();
    const v3 = this.parts.header.version === 3;
    for (const p of blockPieces(offset, length, this.grain)) {
      const c = p.block;
      await this.filling.get(c);
      if (this.readsZero(await this.current(c))) continue;
      if (p.inBlock !== 0 || p.length !== this.clusterLength(c) || (!v3 && this.parentRef)) {
        for (let at = 0; at < p.length; at += ZERO_MIB.length) await this.writeInCluster(c, ZERO_MIB.subarray(0, Math.min(ZERO_MIB.length, p.length - at)), p.inBlock + at);
        continue;
      }
      const { words, j } = await this.place(c);
      this.release(words, j, this.clusters.entry(words, j));
      this.setEntry(words, j, v3 && !this.extended ? ZERO_ENTRY : 0n, ALL_ZERO);
    }
  }

  /** True when entry `e` reads as zeros in this layer alone (a zero cluster, or nothing over no backing file). */
  private readsZero(e: ClusterEntry): boolean {
    if (e.type === 'zero') return true;
    if (e.type === 'unallocated') return !this.parentRef;
    return e.type === 'normal' && e.alloc === 0 && (e.zero === ALL_ZERO.zero || !this.parentRef);
  }

  /** Flushes when the L2 tables held in memory pass `pinnedLimit` bytes, so memory stays bounded however much is written between flushes. */
  private async flushWhenLarge(): Promise<void> {
    if (this.clusters.pinned.size * this.grain > this.pinnedLimit) await this.flush();
  }

  /** See the class comment for the order of writes; waits for the writes in progress and holds new ones back. */
  flush(): Promise<void> {
    return this.gate.exclusive(() => this.flushNow());
  }

  private async flushNow(): Promise<void> {
    await this.beginning;
    await Promise.all(this.filling.values());
    const file = this.parts.file;
    const m = this.clusters;
    await this.refs.commitTaken();
    const place = this.refs.tablePlace;
    this.parts.header.refcountTableOffset = place.at;
    this.parts.header.refcountTableClusters = place.clusters;
    for (const i of this.fresh) await file.write(wordsToBytes(m.pinned.get(i)!), m.l2Offset(i));
    await file.sync();
    for (const i of this.changed) await file.write(wordsToBytes(m.pinned.get(i)!), m.l2Offset(i));
    for (const i of this.fresh) await file.write(wordsToBytes(m.l1.subarray(2 * i, 2 * i + 2)), this.parts.header.l1TableOffset + i * 8);
    if (this.fresh.size + this.changed.size > 0) await file.sync();
    for (const [first, n] of await this.refs.commitFreed()) await file.punchHole?.(first * this.grain, n * this.grain);
    m.pinned.clear();
    this.fresh.clear();
    this.changed.clear();
    if (this.beginning && this.lazy) {
      this.parts.header.incompatible &= ~(1n << BigInt(INCOMPAT_DIRTY));
      await file.write(encodeU64(this.parts.header.incompatible), INCOMPATIBLE_OFFSET);
      await file.sync();
    }
    this.beginning = undefined;
  }

  /**
   * Gives every all-zero cluster the image owns the zero flag (version 3)
   * or drops it (version 2 without a backing file), then flushes: their
   * refcounts go to 0 and their space is punched out of the file (`vdisk
   * compact`). Returns how many clusters were dropped. The guest view never
   * changes, so every crash state reads it.
   */
  async dropZeroClusters(): Promise<number> {
    if (this.parts.header.version === 2 && this.parentRef) throw new DiskImageError('UNSUPPORTED', `${this.path}: a version 2 qcow2 over a backing file cannot mark a cluster as zeros (its backing file would show through)`, { path: this.path });
    const m = this.clusters;
    let dropped = 0;
    for (let i = 0; i < m.o.l1Size; i++) {
      const table = await m.table(i);
      for (let j = 0; table && j < m.perTable; j++) {
        const c = i * m.perTable + j;
        const e = m.entry(table, j);
        if (c * this.grain >= this.virtualSize || !this.inPlace(e)) continue;
        const buf = new Uint8Array(this.clusterLength(c));
        await m.o.data.read(buf, e.host);
        if (!isAllZero(buf)) continue;
        await this.writeZeroes(c * this.grain, buf.length);
        dropped++;
      }
    }
    await this.flush();
    return dropped;
  }

  /**
   * Changes the virtual size (`vdisk resize`; the caller checked that a cut
   * range reads as zeros). Shrinking first empties the entries past the new
   * end (their clusters freed) and flushes; growing past what the L1 table
   * maps moves it to new clusters at the end, refcounts first, fsync. Then
   * size, l1_size and l1_table_offset change in one write inside the first
   * sector, fsync, and the old L1 clusters are freed: a crash leaves the old
   * or the new size, and leaks at worst.
   */
  async setSize(size: number): Promise<void> {
    const h = this.parts.header;
    const m = this.clusters;
    const file = this.parts.file;
    const first = Math.ceil(size / this.grain);
    for (let i = Math.floor(first / m.perTable); i < h.l1Size && size < h.size; i++) {
      const table = await m.table(i);
      for (let j = Math.max(0, first - i * m.perTable); table && j < m.perTable; j++) {
        if (m.entry(table, j).type === 'unallocated') continue;
        const { words } = await this.place(i * m.perTable + j);
        this.release(words, j, m.entry(words, j));
        this.setEntry(words, j, 0n, { alloc: 0, zero: 0 });
      }
    }
    await this.flush();
    const needed = Math.ceil(size / (this.grain * m.perTable));
    let l1 = { at: h.l1TableOffset, size: h.l1Size };
    if (needed > h.l1Size) {
      const clusters = Math.ceil((needed * ENTRY_BYTES) / this.grain);
      const table = new Uint32Array((clusters * this.grain) / 4);
      table.set(m.l1.subarray(0, 2 * h.l1Size));
      l1 = { at: this.refs.take(clusters), size: needed };
      await this.refs.commitTaken();
      await file.write(wordsToBytes(table), l1.at);
      await file.sync();
      this.refs.free(h.l1TableOffset, Math.ceil((h.l1Size * ENTRY_BYTES) / this.grain) * this.grain);
    }
    const fields = new DataView(new ArrayBuffer(SIZE_FIELDS_END - SIZE_OFFSET));
    fields.setBigUint64(0, BigInt(size), false);
    fields.setUint32(L1_SIZE_OFFSET - SIZE_OFFSET, l1.size, false);
    fields.setBigUint64(L1_TABLE_OFFSET_OFFSET - SIZE_OFFSET, BigInt(l1.at), false);
    await file.write(new Uint8Array(fields.buffer), SIZE_OFFSET);
    await file.sync();
    Object.assign(h, { size, l1Size: l1.size, l1TableOffset: l1.at });
    for (const [at, n] of await this.refs.commitFreed()) await file.punchHole?.(at * this.grain, n * this.grain);
  }

  /**
   * Names `parent` as the backing file (rebase, or re-link after commit):
   * its path relative to this image's directory and its format, in a header
   * cluster rewritten whole with the other extensions kept, then fsync.
   */
  async setParent(parent: Layer): Promise<void> {
    await this.flush();
    const file = this.parts.file;
    const cluster = new Uint8Array(Math.min(this.grain, file.size));
    await file.read(cluster, 0);
    const name = relative(dirname(this.path), parent.path);
    const format = qemuFormatName(parent.format);
    await file.write(encodeHeaderCluster({ header: this.parts.header, backing: { name, format }, keep: rawExtensions(cluster, this.parts.header.headerLength) }, this.grain), 0);
    await file.sync();
    this.parts.backingFile = name;
    this.parts.extensions.backingFormat = format;
  }
}
