import { DiskImageError } from '../../errors.js';
import { decodeStruct, defineStruct, encodeStruct } from '../../util/struct.js';
import { COMPRESSION_DEFLATE, FLAG_COMPRESSED, FLAG_REDUNDANT_GT, GD_AT_END, HEADER_SIZE, MAX_VERSION, MAX_VIRTUAL_BYTES, SECTOR, SPARSE_MAGIC } from './constants.js';
import { limitNote, VMDK_MAX_GRAIN_SECTORS, VMDK_MAX_GTES_PER_GT } from '../../limits.js';

/** SparseExtentHeader, little-endian ("Hosted Sparse Extent Header"). */
export const SPARSE_HEADER = defineStruct('SparseExtentHeader', HEADER_SIZE, 'le', {
  magicNumber: { offset: 0, type: 'u32' },
  version: { offset: 4, type: 'u32' },
  flags: { offset: 8, type: 'u32' },
  capacity: { offset: 12, type: 'u64' },
  grainSize: { offset: 20, type: 'u64' },
  descriptorOffset: { offset: 28, type: 'u64' },
  descriptorSize: { offset: 36, type: 'u64' },
  numGTEsPerGT: { offset: 44, type: 'u32' },
  rgdOffset: { offset: 48, type: 'u64' },
  gdOffset: { offset: 56, type: 'u64' },
  overHead: { offset: 64, type: 'u64' },
  uncleanShutdown: { offset: 72, type: 'u8' },
  singleEndLineChar: { offset: 73, type: 'u8' },
  nonEndLineChar: { offset: 74, type: 'u8' },
  doubleEndLineChar1: { offset: 75, type: 'u8' },
  doubleEndLineChar2: { offset: 76, type: 'u8' },
  compressAlgorithm: { offset: 77, type: 'u16' },
});

/** A validated sparse extent header, offsets and sizes in sectors as plain numbers. */
export interface SparseHeader {
  /** Bytes of header at the start of the file: nothing else may lie there (512 KDMV, 2048 COWD). */
  headerBytes: number;
  version: number;
  flags: number;
  /** Sectors of the extent. */
  capacity: number;
  /** Sectors per grain (a power of two). */
  grainSize: number;
  descriptorOffset: number;
  descriptorSize: number;
  numGTEsPerGT: number;
  /** Redundant GD, or 0 when there is none. */
  rgdOffset: number;
  /** The GD, or undefined for GD_AT_END (look in the footer). */
  gdOffset: number | undefined;
  overHead: number;
  uncleanShutdown: boolean;
  compressed: boolean;
  /** True when the newline-detection characters are '\n', ' ', '\r', '\n' as written ("Hosted Sparse Extent Header"). */
  newlinesIntact: boolean;
}

/** An error about `field` of the VMDK header called `header` ('sparse header', 'seSparse header'). */
export function headerFieldError(code: 'CORRUPT' | 'UNSUPPORTED', header: string, field: string, value: unknown, why: string): DiskImageError {
  return new DiskImageError(code, `VMDK ${header}: ${field} ${String(value)} ${why}`, { field, value: String(value) });
}

function corrupt(field: string, value: unknown, why: string): DiskImageError {
  return headerFieldError('CORRUPT', 'sparse header', field, value, why);
}

/** A u64 sector count or offset of the VMDK header called `header` as a number, CORRUPT when its byte value is past MAX_VIRTUAL_BYTES. */
export function headerSectors(header: string, field: string, v: bigint): number {
  if (v * BigInt(SECTOR) > BigInt(MAX_VIRTUAL_BYTES)) throw headerFieldError('CORRUPT', header, field, v, 'is too large');
  return Number(v);
}

function sectors(field: string, v: bigint): number {
  return headerSectors('sparse header', field, v);
}

/** True when `buf` starts with the 'KDMV' magic. */
export function hasSparseMagic(buf: Uint8Array): boolean {
  return buf.length >= 4 && new DataView(buf.buffer, buf.byteOffset, 4).getUint32(0, true) === SPARSE_MAGIC;
}

/**
 * Decodes and checks a sparse extent header: magic, version 1-3, a
 * power-of-two grain of at most VMDK_MAX_GRAIN_SECTORS, 1..VMDK_MAX_GTES_PER_GT
 * entries per grain table, DEFLATE as the only compression. Offsets are not
 * checked against the file here (the caller knows its size).
 */
export function parseSparseHeader(buf: Uint8Array): SparseHeader {
  const f = decodeStruct(SPARSE_HEADER, buf);
  if (f.magicNumber !== SPARSE_MAGIC) throw new DiskImageError('INVALID_FORMAT', 'not a VMDK sparse extent (no KDMV magic)', { field: 'magicNumber', value: f.magicNumber });
  if (f.version < 1 || f.version > MAX_VERSION) throw new DiskImageError('UNSUPPORTED', `VMDK sparse extent version ${f.version} is not supported (1 to ${MAX_VERSION})`, { field: 'version', value: f.version });
  const grainSize = sectors('grainSize', f.grainSize);
  if (grainSize < 1 || grainSize > VMDK_MAX_GRAIN_SECTORS || (grainSize & (grainSize - 1)) !== 0) throw corrupt('grainSize', f.grainSize, `is not a power of two from 1 to ${VMDK_MAX_GRAIN_SECTORS} sectors (${limitNote('VMDK_MAX_GRAIN_SECTORS', VMDK_MAX_GRAIN_SECTORS)})`);
  if (f.numGTEsPerGT < 1 || f.numGTEsPerGT > VMDK_MAX_GTES_PER_GT) throw corrupt('numGTEsPerGT', f.numGTEsPerGT, `is not from 1 to ${VMDK_MAX_GTES_PER_GT} (${limitNote('VMDK_MAX_GTES_PER_GT', VMDK_MAX_GTES_PER_GT)})`);
  const compressed = (f.flags & FLAG_COMPRESSED) !== 0;
  if (compressed && f.compressAlgorithm !== COMPRESSION_DEFLATE) {
    throw new DiskImageError('UNSUPPORTED', `VMDK compression algorithm ${f.compressAlgorithm} is not supported (1, DEFLATE)`, { field: 'compressAlgorithm', value: f.compressAlgorithm });
  }
  return {
    headerBytes: HEADER_SIZE,
    version: f.version,
    flags: f.flags,
    capacity: sectors('capacity', f.capacity),
    grainSize,
    descriptorOffset: sectors('descriptorOffset', f.descriptorOffset),
    descriptorSize: sectors('descriptorSize', f.descriptorSize),
    numGTEsPerGT: f.numGTEsPerGT,
    rgdOffset: (f.flags & FLAG_REDUNDANT_GT) !== 0 ? sectors('rgdOffset', f.rgdOffset) : 0,
    gdOffset: f.gdOffset === GD_AT_END ? undefined : sectors('gdOffset', f.gdOffset),
    overHead: sectors('overHead', f.overHead),
    uncleanShutdown: f.uncleanShutdown !== 0,
    compressed,
    newlinesIntact: f.singleEndLineChar === 0x0a && f.nonEndLineChar === 0x20 && f.doubleEndLineChar1 === 0x0d && f.doubleEndLineChar2 === 0x0a,
  };
}

/** Entries in one grain directory: one per numGTEsPerGT grains of the capacity ("Grain Directories and Grain Tables"). */
export function gdEntries(h: SparseHeader): number {
  return Math.ceil(h.capacity / (h.grainSize * h.numGTEsPerGT));
}

/** The header fields vdisk writes for a new extent: those it reads, with gdOffset a sector or GD_AT_END, and the compression algorithm. */
export type HeaderFields = Pick<SparseHeader, 'version' | 'flags' | 'capacity' | 'grainSize' | 'descriptorOffset' | 'descriptorSize' | 'numGTEsPerGT' | 'rgdOffset' | 'overHead'> & {
  gdOffset: bigint;
  compressAlgorithm: number;
};

/**
 * Encodes a SparseExtentHeader ("Hosted Sparse Extent Header"): the magic,
 * `h`, a clean uncleanShutdown and the newline-detection characters '\n',
 * ' ', '\r', '\n' the spec fixes (flags bit 0 says they are valid).
 */
export function encodeSparseHeader(h: HeaderFields): Uint8Array {
  const buf = new Uint8Array(HEADER_SIZE);
  encodeStruct(
    SPARSE_HEADER,
    {
      magicNumber: SPARSE_MAGIC,
      version: h.version,
      flags: h.flags,
      capacity: BigInt(h.capacity),
      grainSize: BigInt(h.grainSize),
      descriptorOffset: BigInt(h.descriptorOffset),
      descriptorSize: BigInt(h.descriptorSize),
      numGTEsPerGT: h.numGTEsPerGT,
      rgdOffset: BigInt(h.rgdOffset),
      gdOffset: h.gdOffset,
      overHead: BigInt(h.overHead),
      uncleanShutdown: 0,
      singleEndLineChar: 0x0a,
      nonEndLineChar: 0x20,
      doubleEndLineChar1: 0x0d,
      doubleEndLineChar2: 0x0a,
      compressAlgorithm: h.compressAlgorithm,
    },
    buf,
  );
  return buf;
}
