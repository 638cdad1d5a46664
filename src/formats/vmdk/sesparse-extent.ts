import { DiskImageError } from '../../errors.js';
import type { ByteSource } from '../../io/byte-source.js';
import { BoundedCache } from '../../util/bounded-cache.js';
import type { Run } from '../layer.js';
import { coalesce } from '../runs.js';
import { SECTOR } from './constants.js';
import { checkSeSparseVolatileHeader, parseSeSparseHeader, SESPARSE_ENTRY_SIZE, SESPARSE_HEADER_SIZE, type SeSparseHeader } from './sesparse-header.js';

/** Directory entries read at a time (4 KiB): the directory is read in pieces, never whole. */
const GD_CHUNK = 512;

/** Most directory pieces and grain tables kept in memory (each at most 32 KiB): 8 MiB at most, a fixed bound. */
const CACHE_LIMIT = 256;

/** Top 32 bits of an allocated directory entry: type nibble 1 and nothing else (qemu: "top most 4 bytes must be 0x10000000"). */
const GDE_ALLOCATED_HIGH = 0x10000000;

/** Grain table entry types, the top nibble of the u64 (qemu get_cluster_offset). */
const GTE_UNALLOCATED = 0;
const GTE_UNMAPPED = 1;
const GTE_ZERO = 2;
const GTE_ALLOCATED = 3;

/** Largest high half of an allocated entry's 48-bit field whose grain number (field · 2^12 + 12 bits) is still a safe integer. */
const MAX_INDEX_HIGH = 2 ** (53 - 12 - 32);

/** One u64 entry as its two u32 halves. */
interface Entry {
  high: number;
  low: number;
}

/** The entries of `buf` as [high, low] pairs, flattened: entry i is at 2i (high) and 2i + 1 (low). */
function entries(buf: Uint8Array): Uint32Array {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.length);
  const out = new Uint32Array(buf.length / 4);
  for (let i = 0; i < out.length; i += 2) {
    out[i] = view.getUint32(i * 4 + 4, true);
    out[i + 1] = view.getUint32(i * 4, true);
  }
  return out;
}

function at(list: Uint32Array, i: number): Entry {
  return { high: list[2 * i]!, low: list[2 * i + 1]! };
}

/**
 * An ESXi seSparse extent, read-only (as in qemu): a constant header, a
 * volatile header, a grain directory of u64 entries naming grain tables by
 * number, and grain tables of u64 entries whose top nibble says unallocated
 * (read from the parent), unmapped or zero (zeros), or allocated (a grain
 * number, its low 12 bits stored in bits 48-59 and the rest in bits 0-47).
 * Read lazily in bounded pieces; every pointer is checked against the file.
 */
export class SeSparseExtent {
  readonly warnings: string[] = [];
  private readonly cache = new BoundedCache<string, Uint32Array>(CACHE_LIMIT);

  private constructor(
    readonly file: ByteSource,
    readonly header: SeSparseHeader,
    /** Directory entries the capacity needs: the only ones read. */
    private readonly directoryEntries: number,
  ) {}

  /** Reads and checks both headers, and that the directory has an entry for every table the capacity needs and lies in the file. */
  static async open(file: ByteSource): Promise<SeSparseExtent> {
    if (file.size < SESPARSE_HEADER_SIZE) throw new DiskImageError('CORRUPT', `${file.path}: ${file.size} bytes is too small for a seSparse extent`, { path: file.path });
    const buf = new Uint8Array(SESPARSE_HEADER_SIZE);
    await file.read(buf, 0);
    const header = parseSeSparseHeader(buf);
    const volatileAt = header.volatileHeaderOffset * SECTOR;
    if (volatileAt < SESPARSE_HEADER_SIZE || volatileAt + SESPARSE_HEADER_SIZE > file.size) {
      throw new DiskImageError('CORRUPT', `${file.path}: the seSparse volatile header at sector ${header.volatileHeaderOffset} lies outside the file`, { path: file.path, field: 'volatileHeaderOffset', value: header.volatileHeaderOffset });
    }
    await file.read(buf, volatileAt);
    checkSeSparseVolatileHeader(buf);
    const needed = Math.ceil(header.capacity / (header.grainSize * header.perTable));
    if (needed > header.grainDirEntries) {
      throw new DiskImageError('CORRUPT', `${file.path}: the seSparse grain directory has ${header.grainDirEntries} entries, too few for ${header.capacity} sectors (needs ${needed})`, { path: file.path, field: 'grainDirSize', value: header.grainDirEntries });
    }
    const gdAt = header.grainDirOffset * SECTOR;
    if (gdAt < SESPARSE_HEADER_SIZE || gdAt + needed * SESPARSE_ENTRY_SIZE > file.size) {
      throw new DiskImageError('CORRUPT', `${file.path}: the seSparse grain directory at sector ${header.grainDirOffset} (${needed} entries) lies outside the file`, { path: file.path, field: 'grainDirOffset', value: header.grainDirOffset });
    }
    return new SeSparseExtent(file, header, needed);
  }

  /** Bytes per grain. */
  get grainBytes(): number {
    return this.header.grainSize * SECTOR;
  }

  /** Bytes of guest data the extent holds. */
  get capacityBytes(): number {
    return this.header.capacity * SECTOR;
  }

  private corrupt(what: string, field: string, value: number): DiskImageError {
    return new DiskImageError('CORRUPT', `${this.file.path}: seSparse ${what}`, { path: this.file.path, field, value });
  }

  /** Directory entry `g`, from a cached piece. */
  private async directoryEntry(g: number): Promise<Entry> {
    const chunk = Math.floor(g / GD_CHUNK);
    const piece = await this.cache.get(`d${chunk}`, async () => {
      const n = Math.min(GD_CHUNK, this.directoryEntries - chunk * GD_CHUNK);
      const buf = new Uint8Array(n * SESPARSE_ENTRY_SIZE);
      await this.file.read(buf, this.header.grainDirOffset * SECTOR + chunk * GD_CHUNK * SESPARSE_ENTRY_SIZE);
      return entries(buf);
    });
    return at(piece, g - chunk * GD_CHUNK);
  }

  /**
   * Grain table `g` as flattened entries, or undefined when the directory has
   * none; CORRUPT when its entry is malformed or the table lies outside the
   * file after the two headers. As in qemu, a table outside the header's
   * grain tables area is still read.
   */
  private async table(g: number): Promise<Uint32Array | undefined> {
    const e = await this.directoryEntry(g);
    if (e.high === 0 && e.low === 0) return undefined;
    if (e.high !== GDE_ALLOCATED_HIGH) throw this.corrupt(`grain directory entry ${g} (0x${e.high.toString(16)}${e.low.toString(16).padStart(8, '0')}) is not an allocated table entry`, `GD[${g}]`, e.high);
    const tableSectors = (this.header.perTable * SESPARSE_ENTRY_SIZE) / SECTOR;
    const byteAt = (this.header.grainTablesOffset + e.low * tableSectors) * SECTOR;
    if (byteAt < 2 * SESPARSE_HEADER_SIZE || byteAt + tableSectors * SECTOR > this.file.size) {
      throw this.corrupt(`grain directory entry ${g} names grain table ${e.low}, at byte ${byteAt}: outside the file after the headers`, `GD[${g}]`, e.low);
    }
    return this.cache.get(`t${g}`, async () => {
      const buf = new Uint8Array(tableSectors * SECTOR);
      await this.file.read(buf, byteAt);
      return entries(buf);
    });
  }

  /** The run of grain `grain` (table entry `e`) from byte `from` to `to` of the extent, at guest offset `base` + from. */
  private grainRun(grain: number, e: Entry, from: number, to: number, base: number): Run {
    const offset = base + from;
    const length = to - from;
    const type = e.high >>> 28;
    if (type === GTE_UNALLOCATED) {
      if (e.high !== 0 || e.low !== 0) throw this.corrupt(`grain table entry of grain ${grain} has type 0 (unallocated) but is not 0`, `GTE ${grain}`, e.high);
      return { kind: 'absent', offset, length };
    }
    if (type === GTE_UNMAPPED || type === GTE_ZERO) return { kind: 'zero', offset, length };
    if (type !== GTE_ALLOCATED) throw this.corrupt(`grain table entry of grain ${grain} has type ${type} (0 to 3 are defined)`, `GTE ${grain}`, type);
    const high48 = e.high & 0xffff;
    if (high48 >= MAX_INDEX_HIGH) throw this.corrupt(`grain table entry of grain ${grain} names a grain number too large`, `GTE ${grain}`, high48);
    const number = (high48 * 2 ** 32 + e.low) * 4096 + ((e.high >>> 16) & 0xfff);
    const sector = this.header.grainsOffset + number * this.header.grainSize;
    const storedAt = sector * SECTOR + (from - grain * this.grainBytes);
    if (!Number.isSafeInteger(storedAt) || storedAt + length > this.file.size) {
      throw this.corrupt(`grain ${grain} is stored at sector ${sector}, past the end of the file`, `GTE ${grain}`, sector);
    }
    return { kind: 'stored', offset, length, source: this.file, at: storedAt };
  }

  /** The runs of bytes [from, to) of the extent grain by grain (a whole table's span at once where the directory has none), at guest offset `base` + from. */
  private async *grainRuns(base: number, from: number, to: number): AsyncIterable<Run> {
    const grainBytes = this.grainBytes;
    const tableBytes = grainBytes * this.header.perTable;
    for (let pos = from; pos < to; ) {
      const g = Math.floor(pos / tableBytes);
      const table = await this.table(g);
      const tableEnd = Math.min(to, (g + 1) * tableBytes);
      if (!table) {
        yield { kind: 'absent', offset: base + pos, length: tableEnd - pos };
        pos = tableEnd;
        continue;
      }
      for (; pos < tableEnd; ) {
        const grain = Math.floor(pos / grainBytes);
        const end = Math.min(tableEnd, (grain + 1) * grainBytes);
        yield this.grainRun(grain, at(table, grain - g * this.header.perTable), pos, end, base);
        pos = end;
      }
    }
  }

  /** Every problem of the directory and its tables (the first of each table), reading each table once: what `check` reports. */
  async problems(): Promise<string[]> {
    const out: string[] = [];
    const tableBytes = this.grainBytes * this.header.perTable;
    for (let g = 0; g < this.directoryEntries; g++) {
      try {
        const runs = this.grainRuns(0, g * tableBytes, Math.min(this.capacityBytes, (g + 1) * tableBytes))[Symbol.asyncIterator]();
        while (!(await runs.next()).done);
      } catch (err) {
        if (!(err instanceof DiskImageError)) throw err;
        out.push(err.message);
      }
    }
    return out;
  }

  /** Runs of bytes [from, to) of the extent, at guest offset `base` + from; adjacent runs that continue each other are merged. */
  map(base: number, from: number, to: number): AsyncIterable<Run> {
    return coalesce(this.grainRuns(base, from, to));
  }
}
