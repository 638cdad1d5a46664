import { DiskImageError } from '../../errors.js';
import type { ByteSource, Range } from '../../io/byte-source.js';
import { BoundedCache } from '../../util/bounded-cache.js';
import type { MetadataBudget } from '../../util/metadata-budget.js';
import type { Codec, Run } from '../layer.js';
import { coalesce } from '../runs.js';
import { COMPRESSED_SECTOR, ENTRY_BYTES, EXTENDED_ENTRY_BYTES, SUBCLUSTERS } from './constants.js';
import { decodeL2Entry, tableOffset, type ClusterEntry } from './l2-entry.js';
import { limitNote, QCOW2_MAX_L1_BYTES } from '../../limits.js';

/** Bytes of L2 tables kept in memory at most (at least a few tables whatever the cluster size); a fixed bound, so not charged to the metadata budget. */
const L2_CACHE_BYTES = 32 * 1024 * 1024;

/** How the clusters of one L1 table are read. */
export interface ClusterMapOptions {
  /** The qcow2 file: tables and compressed clusters. */
  file: ByteSource;
  /** The image's metadata budget, charged for the L1 table. */
  budget: MetadataBudget;
  /** Where standard clusters are: the qcow2 file, or the external data file ("External data file bit"). */
  data: ByteSource;
  dataFile: boolean;
  clusterBits: number;
  v3: boolean;
  extended: boolean;
  codec: Codec;
  /** The L1 table ("Cluster mapping"): its offset and number of entries. */
  l1Offset: number;
  l1Size: number;
  /** Guest bytes this L1 table maps. */
  virtualSize: number;
  /** What the L1 table is, for messages ("active L1 table", "snapshot 'x' L1 table"). */
  name: string;
}

/** The big-endian u32 words of `buf`. */
export function bigEndianU32s(buf: Uint8Array): Uint32Array {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.length);
  const out = new Uint32Array(buf.length >>> 2);
  for (let i = 0; i < out.length; i++) out[i] = view.getUint32(i * 4, false);
  return out;
}

/** Guest clusters one L2 table maps: cluster_size / 8, or / 16 with extended entries ("Cluster mapping", "Extended L2 Entries"). */
export function l2Entries(clusterBits: number, extended: boolean): number {
  return 2 ** clusterBits / (extended ? EXTENDED_ENTRY_BYTES : ENTRY_BYTES);
}

/**
 * Checks an L1 table's place and size: cluster-aligned, after the header,
 * inside the file, at most QCOW2_MAX_L1_BYTES, and large enough for the guest size.
 */
export function checkL1(o: Pick<ClusterMapOptions, 'file' | 'clusterBits' | 'extended' | 'l1Offset' | 'l1Size' | 'virtualSize' | 'name'>): void {
  const clusterSize = 2 ** o.clusterBits;
  const bad = (why: string, value: number): DiskImageError => new DiskImageError('CORRUPT', `${o.file.path}: qcow2 ${o.name} ${why}`, { path: o.file.path, field: o.name, value });
  if (o.l1Size * ENTRY_BYTES > QCOW2_MAX_L1_BYTES) throw bad(`has ${o.l1Size} entries, more than the ${QCOW2_MAX_L1_BYTES / ENTRY_BYTES} (32 MiB) vdisk and qemu read (${limitNote('QCOW2_MAX_L1_BYTES', QCOW2_MAX_L1_BYTES)})`, o.l1Size);
  const needed = Math.ceil(o.virtualSize / (clusterSize * l2Entries(o.clusterBits, o.extended)));
  if (o.l1Size < needed) throw bad(`has ${o.l1Size} entries, too few for ${o.virtualSize} bytes (${needed} needed)`, o.l1Size);
  if (o.l1Size === 0) return;
  if (o.l1Offset % clusterSize !== 0 || o.l1Offset < clusterSize) throw bad(`offset ${o.l1Offset} is not a cluster boundary after the header`, o.l1Offset);
  if (o.l1Offset + o.l1Size * ENTRY_BYTES > o.file.size) throw bad(`at ${o.l1Offset} runs past the end of the file (${o.file.size} bytes)`, o.l1Offset);
}

/**
 * One L1 table and the L2 tables under it, mapping guest ranges to runs
 * ("Cluster mapping", "Extended L2 Entries"). The L1 table is read once;
 * L2 tables on demand, cached up to L2_CACHE_BYTES. Every offset is checked
 * before it is used: an L2 table or cluster that is unaligned, in the
 * header cluster or past the end of its file is CORRUPT.
 */
export class ClusterMap {
  readonly clusterSize: number;
  readonly perTable: number;
  private readonly l2Cache: BoundedCache<number, Uint32Array>;
  /** L2 tables a writer holds in memory until it flushes them, by L1 index: read in preference to the file. */
  readonly pinned = new Map<number, Uint32Array>();

  private constructor(
    readonly o: ClusterMapOptions,
    /** The L1 table as big-endian word pairs. */
    readonly l1: Uint32Array,
  ) {
    this.clusterSize = 2 ** o.clusterBits;
    this.perTable = l2Entries(o.clusterBits, o.extended);
    this.l2Cache = new BoundedCache(Math.max(4, Math.floor(L2_CACHE_BYTES / this.clusterSize)));
  }

  /** Reads and checks the L1 table, charged to the image's metadata budget. */
  static async open(o: ClusterMapOptions): Promise<ClusterMap> {
    checkL1(o);
    o.budget.charge(o.l1Size * ENTRY_BYTES, `qcow2 ${o.name}`);
    const buf = new Uint8Array(o.l1Size * ENTRY_BYTES);
    await o.file.read(buf, o.l1Offset);
    return new ClusterMap(o, bigEndianU32s(buf));
  }

  private corrupt(why: string, field: string, value: number): DiskImageError {
    return new DiskImageError('CORRUPT', `${this.o.file.path}: qcow2 ${why}`, { path: this.o.file.path, field, value });
  }

  /** The L2 table offset of L1 entry `i` (0: none). */
  l2Offset(i: number): number {
    return i < this.o.l1Size ? tableOffset(this.l1[2 * i]!, this.l1[2 * i + 1]!) : 0;
  }

  /** L2 table `i` as big-endian words, or undefined when L1 entry `i` is 0. */
  async table(i: number): Promise<Uint32Array | undefined> {
    const pinned = this.pinned.get(i);
    if (pinned) return pinned;
    const at = this.l2Offset(i);
    if (at === 0) return undefined;
    return this.l2Cache.get(at, async () => {
      const field = `${this.o.name}[${i}]`;
      if (at % this.clusterSize !== 0) throw this.corrupt(`${field} points to an L2 table at ${at}, not a cluster boundary`, field, at);
      if (at < this.clusterSize) throw this.corrupt(`${field} points to an L2 table at ${at}, inside the header cluster`, field, at);
      if (at + this.clusterSize > this.o.file.size) throw this.corrupt(`${field} points to an L2 table at ${at}, past the end of the file (${this.o.file.size} bytes)`, field, at);
      const buf = new Uint8Array(this.clusterSize);
      await this.o.file.read(buf, at);
      return bigEndianU32s(buf);
    });
  }

  /** Decodes entry `j` of L2 table `table`. */
  entry(table: Uint32Array, j: number): ClusterEntry {
    const w = this.o.extended ? 4 * j : 2 * j;
    return decodeL2Entry(table[w]!, table[w + 1]!, {
      clusterBits: this.o.clusterBits,
      v3: this.o.v3,
      extended: this.o.extended,
      dataFile: this.o.dataFile,
      bitmapHi: this.o.extended ? table[w + 2] : undefined,
      bitmapLo: this.o.extended ? table[w + 3] : undefined,
    });
  }

  /** Checks a standard cluster's host offset (guest cluster `c`) against its file. */
  private checkHost(host: number, c: number): void {
    const field = `L2 entry of guest cluster ${c}`;
    const file = this.o.data;
    if (host % this.clusterSize !== 0) throw this.corrupt(`${field}: host offset ${host} is not a cluster boundary`, field, host);
    if (!this.o.dataFile && host < this.clusterSize) throw this.corrupt(`${field}: host offset ${host} lies in the header cluster`, field, host);
    if (host >= file.size) throw this.corrupt(`${field}: host offset ${host} lies past the end of ${file.path} (${file.size} bytes)`, field, host);
  }

  /** The compressed run of guest cluster `c` for guest bytes [from, to), its stored length checked against the file. */
  private compressedRun(e: { host: number; storedLength: number }, c: number, from: number, to: number): Run {
    const field = `L2 entry of guest cluster ${c}`;
    const size = this.o.file.size;
    if (this.o.dataFile) throw this.corrupt(`${field} is compressed, which an image with an external data file cannot hold`, field, e.host);
    if (e.host < this.clusterSize || e.host >= size) throw this.corrupt(`${field}: compressed data at ${e.host} lies outside the file after the header (${size} bytes)`, field, e.host);
    // The last sector may end past the end of the file (qemu writes only the bytes it compressed); more is corrupt.
    const past = e.host + e.storedLength - size;
    if (past >= COMPRESSED_SECTOR) throw this.corrupt(`${field}: ${e.storedLength} compressed bytes at ${e.host} run ${past} bytes past the end of the file`, field, e.host);
    const base = c * this.clusterSize;
    return { kind: 'compressed', offset: from, length: to - from, source: this.o.file, at: e.host, storedLength: e.storedLength - Math.max(0, past), codec: this.o.codec, unitLength: this.clusterSize, within: from - base };
  }

  /** The runs of guest cluster `c` (whose entry is `e`) over guest bytes [from, to): whole, or subcluster by subcluster. */
  *clusterRuns(e: ClusterEntry, c: number, from: number, to: number): Iterable<Run> {
    if (e.type === 'unallocated') yield { kind: 'absent', offset: from, length: to - from };
    else if (e.type === 'zero') yield { kind: 'zero', offset: from, length: to - from };
    else if (e.type === 'compressed') yield this.compressedRun(e, c, from, to);
    else {
      if (e.alloc !== 0) this.checkHost(e.host, c);
      if ((e.alloc & e.zero) !== 0) throw this.corrupt(`L2 entry of guest cluster ${c}: a subcluster is both allocated and zero`, `L2 entry of guest cluster ${c}`, e.alloc);
      const base = c * this.clusterSize;
      const sub = this.o.extended ? this.clusterSize / SUBCLUSTERS : this.clusterSize;
      for (let pos = from; pos < to; ) {
        const s = Math.floor((pos - base) / sub);
        const end = Math.min(to, base + (s + 1) * sub);
        const bit = 2 ** s;
        const length = end - pos;
        if (e.alloc & bit) yield { kind: 'stored', offset: pos, length, source: this.o.data, at: e.host + pos - base };
        else if (e.zero & bit) yield { kind: 'zero', offset: pos, length };
        else yield { kind: 'absent', offset: pos, length };
        pos = end;
      }
    }
  }

  private async *runs({ offset, length }: Range): AsyncIterable<Run> {
    const end = offset + length;
    const tableSpan = this.clusterSize * this.perTable;
    for (let pos = offset; pos < end; ) {
      const i = Math.floor(pos / tableSpan);
      const table = await this.table(i);
      const tableEnd = Math.min(end, (i + 1) * tableSpan);
      if (!table) {
        yield { kind: 'absent', offset: pos, length: tableEnd - pos };
        pos = tableEnd;
        continue;
      }
      for (; pos < tableEnd; ) {
        const c = Math.floor(pos / this.clusterSize);
        const next = Math.min(tableEnd, (c + 1) * this.clusterSize);
        yield* this.clusterRuns(this.entry(table, c - i * this.perTable), c, pos, next);
        pos = next;
      }
    }
  }

  /** The runs covering [offset, offset+length) in order, adjacent ones that continue each other merged. */
  map(range: Range): AsyncIterable<Run> {
    return coalesce(this.runs(range));
  }
}
