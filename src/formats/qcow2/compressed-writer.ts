import { DiskImageError } from '../../errors.js';
import type { Compressor, CompressorFactory, CompressResult } from '../../util/compressor.js';
import { CompressedUnitStream } from '../compressed-units.js';
import type { ByteSink, SequentialWriter } from '../sequential.js';
import { AppendedRefcounts } from './appended-refcounts.js';
import { l2Entries } from './cluster-map.js';
import { ENTRY_BYTES, EXTENDED_ENTRY_BYTES } from './constants.js';
import { newHeader, type Qcow2Settings } from './settings.js';
import { encodeHeaderCluster } from './header-writer.js';
import { ALL_ALLOCATED, compressedEntry, copiedEntry, setEntryWords, wordsToBytes } from './l2-entry.js';

/** Bytes gathered before one write to the sink: compressed clusters are small, and one write each would cost a system call each. */
const STAGING_BYTES = 1024 * 1024;

/** Bytes of uncompressed clusters held back while compressed ones fill the current cluster (at least one cluster). */
const HELD_BYTES = 1024 * 1024;

/**
 * A qcow2 whose every cluster holding data is compressed, as `qemu-img
 * convert -c` writes it ("Compressed Clusters Descriptor"): a worker per
 * core compresses (raw DEFLATE with a 4 KiB window, or one zstd frame), and
 * the file is written front to back. A placeholder first cluster, then the
 * compressed clusters packed byte after byte in guest order (one that does
 * not compress below the cluster size is stored as it is, cluster-aligned,
 * as qemu does; it is held back until the compressed ones have filled the
 * cluster they are in, so that little space is lost to alignment), each L2 table after its clusters, each refcount block
 * behind the clusters it covers, and at the end the L1 table, the last
 * refcount blocks and the refcount table; then the header goes into the
 * first cluster, which is why the sink must be a file (`writeAt`). All-zero
 * clusters are not stored: they read as zeros, there being no backing file.
 * Compressed clusters never straddle a refcount block's range or overflow a
 * 16-bit refcount, so `qemu-img check` finds neither leaks nor errors.
 */
export class Qcow2CompressedWriter implements SequentialWriter {
  private readonly cs: number;
  private pos = 0;
  private readonly refs: AppendedRefcounts;
  /** L1 entries: the offset of each group's L2 table (0: none). */
  private readonly l1: number[];
  /** The L2 table of the group being written, as big-endian words. */
  private l2: Uint32Array;
  private readonly staging = new Uint8Array(STAGING_BYTES);
  private staged = 0;
  /** Uncompressed clusters waiting for a cluster boundary: guest cluster and bytes. */
  private readonly held: { guest: number; data: Uint8Array }[] = [];
  /** Buffers of held clusters written out, to hold the next ones. */
  private readonly spareHeld: Uint8Array[] = [];
  private readonly clusters: CompressedUnitStream;
  /** Entries of an L2 table: the guest clusters one group of units holds. */
  private readonly perTable: number;

  private constructor(
    private readonly sink: ByteSink & Required<Pick<ByteSink, 'writeAt'>>,
    private readonly s: Qcow2Settings,
    private readonly pool: Compressor,
  ) {
    this.cs = 2 ** s.clusterBits;
    this.refs = new AppendedRefcounts(this.cs);
    this.l1 = new Array<number>(s.l1Size).fill(0);
    this.l2 = new Uint32Array(this.cs / 4);
    this.perTable = l2Entries(s.clusterBits, s.extended);
    this.clusters = new CompressedUnitStream(pool, this.cs, this.perTable, {
      units: (clusters, r) => this.place(clusters, r),
      groupDone: (g) => this.closeTable(g),
    });
  }

  /** Starts a compressed qcow2 of settings `s` on `sink` (a file): emits the placeholder first cluster. */
  static async start(sink: ByteSink, s: Qcow2Settings, compressor: CompressorFactory): Promise<Qcow2CompressedWriter> {
    const { writeAt } = sink;
    if (!writeAt) throw new DiskImageError('USAGE', 'a compressed qcow2 gets its header last, so it is written to a file, not to a pipe');
    const codec = s.compressionType === 'zstd' ? 'zstd' : 'deflate-raw';
    const cs = 2 ** s.clusterBits;
    const writer = new Qcow2CompressedWriter({ write: (b) => sink.write(b), writeAt: (b, o) => writeAt.call(sink, b, o) }, s, compressor({ codec, storeFrom: cs }));
    writer.refs.add(0, cs);
    await writer.emit(new Uint8Array(cs));
    return writer;
  }

  put(data: Uint8Array, offset: number): Promise<void> {
    return this.clusters.put(data, offset);
  }

  abort(): Promise<void> {
    return this.pool.close();
  }

  async finish(): Promise<void> {
    try {
      await this.clusters.finish();
    } finally {
      await this.pool.close();
    }
    await this.alignToCluster();
    const l1Clusters = Math.ceil((this.s.l1Size * ENTRY_BYTES) / this.cs);
    const tail = this.refs.tail(this.pos, l1Clusters);
    const l1 = new Uint8Array(l1Clusters * this.cs);
    const view = new DataView(l1.buffer);
    this.l1.forEach((at, i) => view.setBigUint64(i * ENTRY_BYTES, copiedEntry(at), false));
    await this.emit(l1);
    await this.emit(tail.blocks);
    await this.emit(tail.table);
    await this.flushStaging();
    const header = newHeader(this.s, { l1At: tail.l1At / this.cs, refTableAt: tail.tableAt / this.cs, refTableClusters: tail.tableClusters });
    await this.sink.writeAt(encodeHeaderCluster({ header, backing: this.s.backing }, this.cs), 0);
  }

  /** Appends a batch: each compressed cluster at the current byte; uncompressed ones are held for the next cluster boundary. */
  private async place(clusters: number[], r: CompressResult): Promise<void> {
    for (const [k, guest] of clusters.entries()) {
      const { at, length, stored } = r.units[k]!;
      const bytes = r.out.subarray(at, at + length);
      if (stored) {
        this.hold(guest, bytes);
        if (this.held.length * this.cs >= HELD_BYTES) await this.writeHeld();
        continue;
      }
      const boundary = this.pos % this.cs === 0 || Math.floor(this.pos / this.cs) !== Math.floor((this.pos + length - 1) / this.cs);
      if (this.held.length > 0 && boundary) await this.writeHeld();
      await this.room(length);
      this.setEntry(guest, compressedEntry(this.pos, length, this.s.clusterBits), false);
      this.refs.add(this.pos, this.pos + length);
      await this.emit(bytes);
    }
  }

  /** Keeps a copy of an uncompressed cluster until writeHeld. */
  private hold(guest: number, bytes: Uint8Array): void {
    const data = this.spareHeld.pop() ?? new Uint8Array(this.cs);
    data.set(bytes);
    this.held.push({ guest, data });
  }

  /** Writes the held uncompressed clusters from the next cluster boundary. */
  private async writeHeld(): Promise<void> {
    if (this.held.length === 0) return;
    await this.alignToCluster();
    for (const { guest, data } of this.held.splice(0)) {
      await this.room(this.cs);
      this.setEntry(guest, copiedEntry(this.pos), true);
      this.refs.add(this.pos, this.pos + this.cs);
      await this.emit(data);
      this.spareHeld.push(data);
    }
  }

  /** Sets guest cluster `guest`'s entry in the current L2 table (extended entries: every subcluster allocated when stored, the bitmap zero when compressed). */
  private setEntry(guest: number, entry: bigint, stored: boolean): void {
    const w = (guest % this.perTable) * ((this.s.extended ? EXTENDED_ENTRY_BYTES : ENTRY_BYTES) / 4);
    setEntryWords(this.l2, w, entry);
    if (this.s.extended && stored) this.l2.set([ALL_ALLOCATED.zero, ALL_ALLOCATED.alloc], w + 2);
  }

  /** Writes the L2 table of group `g` at the next cluster boundary and points the L1 entry at it. */
  private async closeTable(g: number): Promise<void> {
    await this.writeHeld();
    await this.alignToCluster();
    await this.room(this.cs);
    this.l1[g] = this.pos;
    this.refs.add(this.pos, this.pos + this.cs);
    await this.emit(wordsToBytes(this.l2));
    this.l2 = new Uint32Array(this.cs / 4);
  }

  /**
   * Makes room for `n` bytes at the current byte: moves to the next cluster
   * when the current one's refcount is full, and when the bytes would cross
   * out of the current refcount block's range, pads to that range's end and
   * writes the block there.
   */
  private async room(n: number): Promise<void> {
    if (this.pos % this.cs !== 0 && !this.refs.canAdd(this.pos)) await this.alignToCluster();
    const end = this.refs.blockEnd;
    if (this.pos + n <= end) return;
    await this.emit(new Uint8Array(end - this.pos));
    await this.emit(this.refs.close(this.pos));
  }

  /** Pads with zeros to the next cluster boundary (the cluster is counted already). */
  private async alignToCluster(): Promise<void> {
    const rest = (this.cs - (this.pos % this.cs)) % this.cs;
    if (rest > 0) await this.emit(new Uint8Array(rest));
  }

  /** Appends `bytes` through the staging buffer. */
  private async emit(bytes: Uint8Array): Promise<void> {
    this.pos += bytes.length;
    for (let at = 0; at < bytes.length; ) {
      const n = Math.min(bytes.length - at, STAGING_BYTES - this.staged);
      this.staging.set(bytes.subarray(at, at + n), this.staged);
      this.staged += n;
      at += n;
      if (this.staged === STAGING_BYTES) await this.flushStaging();
    }
  }

  private async flushStaging(): Promise<void> {
    if (this.staged === 0) return;
    await this.sink.write(this.staging.subarray(0, this.staged));
    this.staged = 0;
  }
}
