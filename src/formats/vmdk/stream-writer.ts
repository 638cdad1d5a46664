import { DiskImageError } from '../../errors.js';
import { roundUp } from '../../util/checked.js';
import type { Compressor, CompressResult } from '../../util/compressor.js';
import { CompressedUnitStream } from '../compressed-units.js';
import { compressorOf, type ByteSink, type SequentialWriter, type StreamLayout } from '../sequential.js';
import {
  COMPRESSION_DEFLATE,
  ENTRY_SIZE,
  FLAG_COMPRESSED,
  FLAG_MARKERS,
  FLAG_VALID_NEWLINE,
  GD_AT_END,
  HEADER_SIZE,
  MARKER,
  MAX_SPARSE_FILE_SECTORS,
  SECTOR,
  STREAM_VERSION,
  WRITE_GRAIN_SECTORS,
  WRITE_GTES_PER_GT,
} from './constants.js';
import { descriptorSectors, newDescriptor } from './descriptor-writer.js';
import { encodeTable } from './grain-directory.js';
import { encodeSparseHeader, type HeaderFields } from './header.js';

/** Room the pool keeps for each grain: its marker, lba (u64) and size (u32), before the compressed bytes, and padding to a sector ("Compressed Grain"). */
const GRAIN_FRAMING = { head: 12, align: SECTOR };

/**
 * A metadata marker ("Stream-Optimized Compressed Sparse Extents", Markers):
 * numSectors (u64) of metadata following it, size 0 (u32), type (u32), the
 * rest of the sector zero.
 */
function marker(numSectors: number, type: number): Uint8Array {
  const buf = new Uint8Array(SECTOR);
  const view = new DataView(buf.buffer);
  view.setBigUint64(0, BigInt(numSectors), true);
  view.setUint32(12, type, true);
  return buf;
}

/**
 * A stream-optimized VMDK written front to back ("Stream-Optimized
 * Compressed Sparse Extents"), as ESXi imports it: header (version 3,
 * flags: valid newline characters, compressed grains, markers;
 * compressAlgorithm 1; gdOffset GD_AT_END) and embedded descriptor up to
 * overHead; then each non-zero grain in guest order, deflated (zlib) by a
 * worker pool behind its grain marker and padded to a sector, each grain
 * table that holds a grain after its grains, behind a GT marker; then the
 * GD behind a GD marker, the footer (the header with the GD's real offset)
 * behind a footer marker, and the end-of-stream marker. Grain tables
 * without grains are not written (their GD entry is 0).
 */
export class StreamOptimizedWriter implements SequentialWriter {
  private pos = 0;
  /** Tables being filled as grains are emitted, by index. */
  private readonly tables = new Map<number, Uint32Array>();
  private readonly gd: Uint32Array;
  private readonly grains: CompressedUnitStream;

  private constructor(
    private readonly sink: ByteSink,
    private readonly header: HeaderFields,
    private readonly pool: Compressor,
  ) {
    this.gd = new Uint32Array(Math.ceil(header.capacity / (header.grainSize * WRITE_GTES_PER_GT)));
    this.grains = new CompressedUnitStream(pool, header.grainSize * SECTOR, WRITE_GTES_PER_GT, {
      units: (grains, r) => this.emitGrains(grains, r),
      groupDone: (t) => this.emitTable(t),
    });
  }

  /** Emits the header and descriptor of a stream of `l.virtualSize` bytes and returns the writer. */
  static async start(sink: ByteSink, l: StreamLayout, name: string): Promise<StreamOptimizedWriter> {
    const capacity = Math.ceil(l.virtualSize / SECTOR);
    if (capacity <= 0) throw new DiskImageError('USAGE', 'VMDK size must be positive');
    if (capacity >= MAX_SPARSE_FILE_SECTORS) throw new DiskImageError('OUT_OF_RANGE', `a VMDK sparse extent holds less than 2 TiB (its pointers are 32-bit sectors), not ${l.virtualSize} bytes`, { value: l.virtualSize });
    const descriptor = descriptorSectors(newDescriptor('streamOptimized', capacity, [{ sectors: capacity, type: 'SPARSE', file: name }], l.options, l.uuid), 1);
    const header: HeaderFields = {
      version: STREAM_VERSION,
      flags: FLAG_VALID_NEWLINE | FLAG_COMPRESSED | FLAG_MARKERS,
      capacity,
      grainSize: WRITE_GRAIN_SECTORS,
      descriptorOffset: 1,
      descriptorSize: descriptor.length / SECTOR,
      numGTEsPerGT: WRITE_GTES_PER_GT,
      rgdOffset: 0,
      gdOffset: GD_AT_END,
      overHead: roundUp(1 + descriptor.length / SECTOR, WRITE_GRAIN_SECTORS),
      compressAlgorithm: COMPRESSION_DEFLATE,
    };
    const writer = new StreamOptimizedWriter(sink, header, compressorOf(l)({ codec: 'zlib', framing: GRAIN_FRAMING }));
    const head = new Uint8Array(header.overHead * SECTOR);
    head.set(encodeSparseHeader(header));
    head.set(descriptor, HEADER_SIZE);
    await writer.emit(head);
    return writer;
  }

  put(data: Uint8Array, offset: number): Promise<void> {
    return this.grains.put(data, offset);
  }

  /** Writes each grain's marker into the room the pool left before it, points its GTE at the marker, and emits the batch. */
  private async emitGrains(grains: number[], r: CompressResult): Promise<void> {
    const view = new DataView(r.out.buffer, r.out.byteOffset, r.out.byteLength);
    grains.forEach((g, k) => {
      const { at, length } = r.units[k]!;
      view.setBigUint64(at, BigInt(g * this.header.grainSize), true);
      view.setUint32(at + 8, length, true);
      this.tableFor(Math.floor(g / WRITE_GTES_PER_GT))[g % WRITE_GTES_PER_GT] = (this.pos + at) / SECTOR;
    });
    await this.emit(r.out);
  }

  private tableFor(t: number): Uint32Array {
    let table = this.tables.get(t);
    if (!table) this.tables.set(t, (table = new Uint32Array(WRITE_GTES_PER_GT)));
    return table;
  }

  private async emitTable(t: number): Promise<void> {
    const bytes = encodeTable(this.tableFor(t));
    this.tables.delete(t);
    await this.emit(marker(bytes.length / SECTOR, MARKER.gt));
    this.gd[t] = this.pos / SECTOR;
    await this.emit(bytes);
  }

  /** Appends `bytes` (whole sectors) to the stream; OUT_OF_RANGE once u32 sector pointers could not reach past it. */
  private async emit(bytes: Uint8Array): Promise<void> {
    if ((this.pos + bytes.length) / SECTOR > MAX_SPARSE_FILE_SECTORS) throw new DiskImageError('OUT_OF_RANGE', 'the stream-optimized VMDK would pass 2 TiB, past what its 32-bit sector pointers reach');
    await this.sink.write(bytes);
    this.pos += bytes.length;
  }

  abort(): Promise<void> {
    return this.pool.close();
  }

  async finish(): Promise<void> {
    try {
      await this.grains.finish();
      const gd = new Uint8Array(roundUp(this.gd.length * ENTRY_SIZE, SECTOR));
      gd.set(encodeTable(this.gd));
      await this.emit(marker(gd.length / SECTOR, MARKER.gd));
      const gdOffset = this.pos / SECTOR;
      await this.emit(gd);
      await this.emit(marker(1, MARKER.footer));
      await this.emit(encodeSparseHeader({ ...this.header, gdOffset: BigInt(gdOffset) }));
      await this.emit(marker(0, MARKER.eos));
    } finally {
      await this.pool.close();
    }
  }
}
