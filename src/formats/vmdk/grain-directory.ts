import { DiskImageError } from '../../errors.js';
import type { ByteSource } from '../../io/byte-source.js';
import { BoundedCache } from '../../util/bounded-cache.js';
import { ENTRY_SIZE, SECTOR } from './constants.js';

/** GD entries read at a time (4 KiB): the directory is read in pieces, never whole. */
const GD_CHUNK = 1024;

/** Most GD pieces and grain tables kept in memory (each at most 16 KiB), over all the sparse extents of one layer: 20 MiB at most, a fixed bound, so not charged to the metadata budget. */
const CACHE_LIMIT = 1024;

/**
 * The caches of grain directory pieces and grain tables that the sparse
 * extents of one VMDK layer share, so that their memory stays under
 * CACHE_LIMIT entries each however many extents a descriptor lists (up to
 * VMDK_MAX_EXTENTS); each directory keys its entries by its own prefix.
 */
export class GrainCaches {
  readonly pieces = new BoundedCache<string, Uint32Array>(CACHE_LIMIT);
  readonly tables = new BoundedCache<string, Uint32Array | undefined>(CACHE_LIMIT);
  private directories = 0;

  /** A key prefix for one more directory, which no other sharing these caches has. */
  register(): string {
    return `${this.directories++}:`;
  }
}

/**
 * One grain directory and the grain tables it points to ("Grain Directories
 * and Grain Tables"): entry g of the directory is the sector of the table of
 * grains [g·n, (g+1)·n), each table entry the sector of a grain (or 0, 1).
 * Read lazily, in bounded pieces, with every pointer checked against the file.
 */
export class GrainDirectory {
  private readonly key: string;

  /**
   * `gdSector`: where the directory starts; `entries`: how many it has;
   * `perTable`: numGTEsPerGT; `headerBytes`: the header nothing may
   * overlap; `caches`: where pieces and tables are kept (the layer's,
   * shared by its extents). CORRUPT when the directory does not lie wholly
   * in the file after the header.
   */
  constructor(
    readonly source: ByteSource,
    readonly gdSector: number,
    readonly entries: number,
    readonly perTable: number,
    readonly name: string,
    readonly headerBytes: number,
    private readonly caches: GrainCaches = new GrainCaches(),
  ) {
    this.key = caches.register();
    const at = gdSector * SECTOR;
    if (at < headerBytes || at + entries * ENTRY_SIZE > source.size) {
      throw new DiskImageError('CORRUPT', `VMDK ${name} at sector ${gdSector} (${entries} entries) does not lie in the file after the header (${source.size} bytes)`, {
        field: name,
        value: gdSector,
        path: source.path,
      });
    }
  }

  /** Bytes of one grain table. */
  get tableBytes(): number {
    return this.perTable * ENTRY_SIZE;
  }

  /** Directory entries [chunk·GD_CHUNK, ...) as one cached piece. */
  private piece(chunk: number): Promise<Uint32Array> {
    return this.caches.pieces.get(this.key + chunk, async () => {
      const n = Math.min(GD_CHUNK, this.entries - chunk * GD_CHUNK);
      const buf = new Uint8Array(n * ENTRY_SIZE);
      await this.source.read(buf, this.gdSector * SECTOR + chunk * GD_CHUNK * ENTRY_SIZE);
      return littleEndianU32s(buf);
    });
  }

  /** The sector of grain table `g` (0: none), from the directory. */
  async tableSector(g: number): Promise<number> {
    const chunk = Math.floor(g / GD_CHUNK);
    return (await this.piece(chunk))[g - chunk * GD_CHUNK]!;
  }

  /** The first table index in [g, limit) whose directory entry is not 0, or `limit`: skips unallocated stretches a piece at a time. */
  async nextTable(g: number, limit: number): Promise<number> {
    for (let i = g; i < limit; ) {
      const chunk = Math.floor(i / GD_CHUNK);
      const piece = await this.piece(chunk);
      for (; i < limit && i < (chunk + 1) * GD_CHUNK; i++) if (piece[i - chunk * GD_CHUNK] !== 0) return i;
    }
    return limit;
  }

  /** Whether a grain table at `sector` lies after the header and inside the file, as `table` requires (walks over every entry test it first instead of catching `table`'s error). */
  tableFitsAt(sector: number): boolean {
    const at = sector * SECTOR;
    return at >= this.headerBytes && at + this.tableBytes <= this.source.size;
  }

  /** Grain table `g`, or undefined when the directory has none for it; CORRUPT when it points into the header or past the end. */
  table(g: number): Promise<Uint32Array | undefined> {
    return this.caches.tables.get(this.key + g, async () => {
      const sector = await this.tableSector(g);
      if (sector === 0) return undefined;
      if (!this.tableFitsAt(sector)) {
        throw new DiskImageError('CORRUPT', `VMDK ${this.name} entry ${g} points to a grain table at sector ${sector}, outside the file after the header (${this.source.size} bytes)`, {
          field: `${this.name}[${g}]`,
          value: sector,
          path: this.source.path,
        });
      }
      const buf = new Uint8Array(this.tableBytes);
      await this.source.read(buf, sector * SECTOR);
      return littleEndianU32s(buf);
    });
  }

  /** Remembers `table` as grain table `g` once a writer has stored it, so reads see it without reading it back. */
  remember(g: number, table: Uint32Array): void {
    this.caches.tables.set(this.key + g, table);
  }
}

/** The u32 little-endian values of `buf` (whose length is a multiple of 4). */
export function littleEndianU32s(buf: Uint8Array): Uint32Array {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.length);
  const out = new Uint32Array(buf.length / ENTRY_SIZE);
  for (let i = 0; i < out.length; i++) out[i] = view.getUint32(i * ENTRY_SIZE, true);
  return out;
}

/** `table` as u32 little-endian bytes, as a grain table is stored. */
export function encodeTable(table: Uint32Array): Uint8Array {
  const buf = new Uint8Array(table.length * ENTRY_SIZE);
  const view = new DataView(buf.buffer);
  for (let i = 0; i < table.length; i++) view.setUint32(i * ENTRY_SIZE, table[i]!, true);
  return buf;
}
