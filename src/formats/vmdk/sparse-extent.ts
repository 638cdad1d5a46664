import { DiskImageError } from '../../errors.js';
import type { ByteSource } from '../../io/byte-source.js';
import { BoundedCache } from '../../util/bounded-cache.js';
import type { Run } from '../layer.js';
import { COWD_HEADER_SIZE, COWD_MAGIC_TEXT, FOOTER_FROM_END, GRAIN_MARKER_SIZE, GTE_UNALLOCATED, GTE_ZEROED, HEADER_SIZE, SECTOR } from './constants.js';
import { parseCowdHeader } from './cowd-header.js';
import { GrainCaches, GrainDirectory } from './grain-directory.js';
import { gdEntries, hasSparseMagic, parseSparseHeader, type SparseHeader } from './header.js';
import { coalesce } from '../runs.js';
import { VMDK_MAX_DESCRIPTOR_BYTES } from '../../limits.js';

/** Most grain markers (compressed lengths) kept in memory. */
const MARKER_CACHE_LIMIT = 65536;

/**
 * Largest compressed grain vdisk reads: the grain plus an eighth and a
 * sector. DEFLATE's worst case (stored blocks) adds 5 bytes per 64 KiB and
 * zlib 6 bytes, so no honest grain comes near it.
 */
function maxStoredLength(grainBytes: number): number {
  return grainBytes + grainBytes / 8 + SECTOR;
}

/**
 * The header of a hosted sparse (KDMV) or ESX sparse (COWD) extent, and the
 * footer copy read for a GD_AT_END one ("Stream-Optimized Compressed Sparse
 * Extents", "The Footer").
 */
async function readHeaders(file: ByteSource): Promise<{ header: SparseHeader; footer?: SparseHeader }> {
  const buf = new Uint8Array(HEADER_SIZE);
  if (file.size < HEADER_SIZE) throw new DiskImageError('INVALID_FORMAT', `${file.path}: ${file.size} bytes is too small for a VMDK sparse extent`);
  await file.read(buf, 0);
  if (Buffer.from(buf.subarray(0, 4)).toString('latin1') === COWD_MAGIC_TEXT) {
    if (file.size < COWD_HEADER_SIZE) throw new DiskImageError('CORRUPT', `${file.path}: ${file.size} bytes is too small for a COWD extent`, { path: file.path });
    const cowd = new Uint8Array(COWD_HEADER_SIZE);
    await file.read(cowd, 0);
    return { header: parseCowdHeader(cowd) };
  }
  const header = parseSparseHeader(buf);
  if (header.gdOffset !== undefined) return { header };
  const at = file.size - FOOTER_FROM_END;
  if (at < HEADER_SIZE) throw new DiskImageError('CORRUPT', `${file.path}: the header says the grain directory is at the end, but the file is too small for a footer`, { path: file.path });
  await file.read(buf, at);
  if (!hasSparseMagic(buf)) throw new DiskImageError('CORRUPT', `${file.path}: the header says the grain directory is at the end, but there is no footer at byte ${at}`, { path: file.path, offset: at });
  const footer = parseSparseHeader(buf);
  if (footer.gdOffset === undefined) throw new DiskImageError('CORRUPT', `${file.path}: the footer at byte ${at} does not say where the grain directory is either`, { path: file.path, offset: at });
  if (footer.capacity !== header.capacity || footer.grainSize !== header.grainSize) {
    throw new DiskImageError('CORRUPT', `${file.path}: header and footer disagree on capacity or grain size`, { path: file.path });
  }
  return { header, footer };
}

/**
 * A hosted sparse extent ("Hosted Sparse Extent Header", "Grain Directories
 * and Grain Tables"), including stream-optimized ones whose grains are
 * compressed and whose directory is found through the footer. Grains map to
 * stored, compressed, zero (GTE 1) or absent (GTE 0) runs.
 */
export class SparseExtent {
  readonly warnings: string[] = [];
  private readonly markers = new BoundedCache<number, number>(MARKER_CACHE_LIMIT);
  /** Grain tables a writer changed and has not stored yet, by index: they take precedence over the directories'. */
  readonly pendingTables = new Map<number, Uint32Array>();
  private redundantWarned = false;

  private constructor(
    readonly file: ByteSource,
    /** The header in effect: the footer's for a GD_AT_END extent. */
    readonly header: SparseHeader,
    readonly primary: GrainDirectory | undefined,
    readonly redundant: GrainDirectory | undefined,
    readonly footerUsed: boolean,
  ) {}

  /** Reads the header (and footer), and checks where the directories are; a damaged primary directory falls back to the redundant one. Their pieces and tables are kept in `caches` (the layer's, when it has several extents). */
  static async open(file: ByteSource, caches: GrainCaches = new GrainCaches()): Promise<SparseExtent> {
    const { header, footer } = await readHeaders(file);
    const h = footer ?? header;
    const entries = gdEntries(h);
    const warnings: string[] = [];
    const directory = (sector: number, name: string): GrainDirectory | undefined => {
      try {
        return new GrainDirectory(file, sector, entries, h.numGTEsPerGT, name, h.headerBytes, caches);
      } catch (err) {
        if (!(err instanceof DiskImageError)) throw err;
        warnings.push(err.message);
        return undefined;
      }
    };
    const primary = directory(h.gdOffset!, 'grain directory');
    const redundant = h.rgdOffset ? directory(h.rgdOffset, 'redundant grain directory') : undefined;
    if (!primary && !redundant) throw new DiskImageError('CORRUPT', `${file.path}: ${warnings.join('; ')}`, { path: file.path });
    const extent = new SparseExtent(file, h, primary, redundant, footer !== undefined);
    extent.warnings.push(...warnings.map((w) => (primary ? w : `${w}; reading the redundant grain directory`)));
    return extent;
  }

  /** Bytes per grain. */
  get grainBytes(): number {
    return this.header.grainSize * SECTOR;
  }

  /** Bytes of guest data the extent holds. */
  get capacityBytes(): number {
    return this.header.capacity * SECTOR;
  }

  /** The embedded descriptor's bytes (undefined when the header has none), at most VMDK_MAX_DESCRIPTOR_BYTES + 1 of them. */
  async embeddedDescriptor(): Promise<Uint8Array | undefined> {
    const { descriptorOffset, descriptorSize } = this.header;
    if (descriptorOffset === 0 || descriptorSize === 0) return undefined;
    const at = descriptorOffset * SECTOR;
    const length = Math.min(descriptorSize * SECTOR, VMDK_MAX_DESCRIPTOR_BYTES + 1);
    if (at < this.header.headerBytes || at + length > this.file.size) {
      throw new DiskImageError('CORRUPT', `${this.file.path}: embedded descriptor at sector ${descriptorOffset} lies outside the file`, { path: this.file.path, field: 'descriptorOffset', value: descriptorOffset });
    }
    const buf = new Uint8Array(length);
    await this.file.read(buf, at);
    return buf;
  }

  /** The grain table holding `grain`'s entry (undefined: none, all unallocated): the primary directory's, or the redundant one's when the primary's is damaged. */
  async tableOf(grain: number): Promise<Uint32Array | undefined> {
    const g = Math.floor(grain / this.header.numGTEsPerGT);
    const pending = this.pendingTables.get(g);
    if (pending) return pending;
    if (!this.primary) return this.redundant!.table(g);
    try {
      return await this.primary.table(g);
    } catch (err) {
      if (!this.redundant || !(err instanceof DiskImageError) || err.code !== 'CORRUPT') throw err;
      if (!this.redundantWarned) this.warnings.push(`${err.message}; reading the redundant grain directory`);
      this.redundantWarned = true;
      return this.redundant.table(g);
    }
  }

  /** The compressed length of the grain whose marker is at `sector`, checked against the grain it should hold and the file's end ("Compressed Grain"). */
  private storedLength(sector: number, grain: number): Promise<number> {
    return this.markers.get(sector, async () => {
      const at = sector * SECTOR;
      const bad = (why: string, value: unknown): DiskImageError =>
        new DiskImageError('CORRUPT', `${this.file.path}: compressed grain ${grain} at byte ${at}: ${why}`, { path: this.file.path, offset: at, value: String(value) });
      if (at + GRAIN_MARKER_SIZE > this.file.size) throw bad('its marker lies past the end of the file', at);
      const buf = new Uint8Array(GRAIN_MARKER_SIZE);
      await this.file.read(buf, at);
      const view = new DataView(buf.buffer);
      const lba = view.getBigUint64(0, true);
      const size = view.getUint32(8, true);
      if (lba !== BigInt(grain) * BigInt(this.header.grainSize)) throw bad(`its marker says sector ${lba}, not ${grain * this.header.grainSize}`, lba);
      if (size === 0 || size > maxStoredLength(this.grainBytes)) throw bad(`compressed length ${size} is not from 1 to ${maxStoredLength(this.grainBytes)}`, size);
      if (at + GRAIN_MARKER_SIZE + size > this.file.size) throw bad(`its ${size} compressed bytes run past the end of the file`, size);
      return size;
    });
  }

  /** The run of grain `grain` (entry `gte`) from byte `from` to `to` of the extent, at guest offset `base` + from. */
  private async grainRun(grain: number, gte: number, from: number, to: number, base: number): Promise<Run> {
    const offset = base + from;
    const length = to - from;
    if (gte === GTE_UNALLOCATED) return { kind: 'absent', offset, length };
    if (gte === GTE_ZEROED) return { kind: 'zero', offset, length };
    const within = from - grain * this.grainBytes;
    if (this.header.compressed) {
      const storedLength = await this.storedLength(gte, grain);
      return { kind: 'compressed', offset, length, source: this.file, at: gte * SECTOR + GRAIN_MARKER_SIZE, storedLength, codec: 'zlib', unitLength: this.grainBytes, within };
    }
    const at = gte * SECTOR + within;
    if (at + length > this.file.size) {
      throw new DiskImageError('CORRUPT', `${this.file.path}: grain ${grain} at sector ${gte} lies past the end of the file`, { path: this.file.path, offset: gte * SECTOR, field: `GTE ${grain}`, value: gte });
    }
    return { kind: 'stored', offset, length, source: this.file, at };
  }

  /** The runs of bytes [from, to) of the extent grain by grain (a whole stretch of absent tables at once), at guest offset `base` + from. */
  private async *grainRuns(base: number, from: number, to: number): AsyncIterable<Run> {
    const grainBytes = this.grainBytes;
    const tableBytes = grainBytes * this.header.numGTEsPerGT;
    for (let pos = from; pos < to; ) {
      const grain = Math.floor(pos / grainBytes);
      const table = await this.tableOf(grain);
      if (!table) {
        const next = await (this.primary ?? this.redundant!).nextTable(Math.floor(pos / tableBytes) + 1, Math.ceil(to / tableBytes));
        const end = Math.min(to, next * tableBytes);
        yield { kind: 'absent', offset: base + pos, length: end - pos };
        pos = end;
        continue;
      }
      const end = Math.min(to, (grain + 1) * grainBytes);
      yield await this.grainRun(grain, table[grain % this.header.numGTEsPerGT]!, pos, end, base);
      pos = end;
    }
  }

  /** Runs of bytes [from, to) of the extent, at guest offset `base` + from; adjacent runs that continue each other are merged. */
  map(base: number, from: number, to: number): AsyncIterable<Run> {
    return coalesce(this.grainRuns(base, from, to));
  }
}
