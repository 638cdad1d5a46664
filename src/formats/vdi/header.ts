import { DiskImageError } from '../../errors.js';
import { formatGuid } from '../../util/guid.js';
import { decodeStruct, defineStruct } from '../../util/struct.js';
import { COMMENT_SIZE, FILE_INFO_SIZE, HEADER0_SIZE, HEADER1_SIZE, HEADER1PLUS_SIZE, MIN_BLOCK_SIZE, PRE_HEADER_SIZE, TYPE_DIFF, TYPE_FIXED, TYPE_NORMAL, TYPE_UNDO, VDI_SIGNATURE } from './constants.js';
import { limitNote, VDI_MAX_BLOCK_EXTRA, VDI_MAX_BLOCK_MAP_BYTES, VDI_MAX_BLOCK_SIZE, VDI_MAX_HEADER_SIZE } from '../../limits.js';

/** VDIPREHEADER (VDICore.h), little-endian at byte 0. */
export const PRE_HEADER = defineStruct('VDIPREHEADER', PRE_HEADER_SIZE, 'le', {
  fileInfo: { offset: 0, type: 'ascii', length: FILE_INFO_SIZE },
  signature: { offset: 64, type: 'u32' },
  version: { offset: 68, type: 'u32' },
});

/** VDIHEADER0 (VDICore.h), after the pre-header: no cbHeader, offsets implied. */
const HEADER0 = defineStruct('VDIHEADER0', HEADER0_SIZE, 'le', {
  type: { offset: 0, type: 'u32' },
  flags: { offset: 4, type: 'u32' },
  comment: { offset: 8, type: 'bytes', length: COMMENT_SIZE },
  cylinders: { offset: 264, type: 'u32' },
  heads: { offset: 268, type: 'u32' },
  sectors: { offset: 272, type: 'u32' },
  sectorSize: { offset: 276, type: 'u32' },
  diskSize: { offset: 280, type: 'u64' },
  blockSize: { offset: 288, type: 'u32' },
  blocks: { offset: 292, type: 'u32' },
  blocksAllocated: { offset: 296, type: 'u32' },
  uuidCreate: { offset: 300, type: 'bytes', length: 16 },
  uuidModify: { offset: 316, type: 'bytes', length: 16 },
  uuidLinkage: { offset: 332, type: 'bytes', length: 16 },
});

/** VDIHEADER1PLUS (VDICore.h), after the pre-header; VDIHEADER1 is its first 384 bytes (no LCHS geometry). */
export const HEADER1 = defineStruct('VDIHEADER1PLUS', HEADER1PLUS_SIZE, 'le', {
  headerSize: { offset: 0, type: 'u32' },
  type: { offset: 4, type: 'u32' },
  flags: { offset: 8, type: 'u32' },
  comment: { offset: 12, type: 'bytes', length: COMMENT_SIZE },
  blocksOffset: { offset: 268, type: 'u32' },
  dataOffset: { offset: 272, type: 'u32' },
  cylinders: { offset: 276, type: 'u32' },
  heads: { offset: 280, type: 'u32' },
  sectors: { offset: 284, type: 'u32' },
  sectorSize: { offset: 288, type: 'u32' },
  dummy: { offset: 292, type: 'u32' },
  diskSize: { offset: 296, type: 'u64' },
  blockSize: { offset: 304, type: 'u32' },
  blockExtra: { offset: 308, type: 'u32' },
  blocks: { offset: 312, type: 'u32' },
  blocksAllocated: { offset: 316, type: 'u32' },
  uuidCreate: { offset: 320, type: 'bytes', length: 16 },
  uuidModify: { offset: 336, type: 'bytes', length: 16 },
  uuidLinkage: { offset: 352, type: 'bytes', length: 16 },
  uuidParentModify: { offset: 368, type: 'bytes', length: 16 },
  lchsCylinders: { offset: 384, type: 'u32' },
  lchsHeads: { offset: 388, type: 'u32' },
  lchsSectors: { offset: 392, type: 'u32' },
  lchsSectorSize: { offset: 396, type: 'u32' },
});

/** A disk geometry as VDIDISKGEOMETRY holds it. */
export interface VdiGeometry {
  cylinders: number;
  heads: number;
  sectors: number;
  sectorSize: number;
}

/** A validated VDI header of any version, offsets and sizes as plain numbers. */
export interface VdiHeader {
  /** u32Version: (major << 16) | minor. */
  version: number;
  /** Bytes the pre-header and header take; nothing else may start before. */
  headerEnd: number;
  type: 'normal' | 'fixed' | 'diff';
  flags: number;
  comment: string;
  blocksOffset: number;
  dataOffset: number;
  diskSize: number;
  blockSize: number;
  blockExtra: number;
  blocks: number;
  blocksAllocated: number;
  uuidCreate: Uint8Array;
  uuidModify: Uint8Array;
  uuidLinkage: Uint8Array;
  /** Version 1 only: the parent's uuidModify when the child was made. */
  uuidParentModify?: Uint8Array;
  legacyGeometry: VdiGeometry;
  /** VDIHEADER1PLUS only (cbHeader at least 400). */
  lchsGeometry?: VdiGeometry;
}

/** True when the first bytes carry VDI_IMAGE_SIGNATURE at VDIPREHEADER.u32Signature. */
export function hasVdiSignature(head: Uint8Array): boolean {
  return head.length >= PRE_HEADER_SIZE && new DataView(head.buffer, head.byteOffset).getUint32(64, true) === VDI_SIGNATURE;
}

/** Bytes of the file to read for the header of the pre-header `pre` (cbHeader is peeked for version 1). */
export function headerBytesNeeded(pre: Uint8Array): number {
  const version = new DataView(pre.buffer, pre.byteOffset).getUint32(68, true);
  if (version >>> 16 === 0) return PRE_HEADER_SIZE + HEADER0_SIZE;
  const size = pre.length >= PRE_HEADER_SIZE + 4 ? new DataView(pre.buffer, pre.byteOffset).getUint32(PRE_HEADER_SIZE, true) : HEADER1_SIZE;
  return PRE_HEADER_SIZE + Math.max(HEADER1_SIZE, Math.min(size, HEADER1PLUS_SIZE));
}

function corrupt(path: string, field: string, value: number, why: string): DiskImageError {
  return new DiskImageError('CORRUPT', `${path}: VDI header ${field} = ${value}: ${why}`, { path, field, value });
}

function imageType(path: string, t: number): VdiHeader['type'] {
  if (t === TYPE_NORMAL) return 'normal';
  if (t === TYPE_FIXED) return 'fixed';
  if (t === TYPE_DIFF) return 'diff';
  if (t === TYPE_UNDO) throw new DiskImageError('UNSUPPORTED', `${path}: VDI undo images (type 3, VirtualBox 1.x) are not supported`, { path, field: 'u32Type', value: t });
  throw corrupt(path, 'u32Type', t, 'not an image type (1 normal, 2 fixed, 3 undo, 4 diff)');
}

function commentText(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return Buffer.from(bytes.subarray(0, end < 0 ? bytes.length : end)).toString('utf8');
}

/** The fields both versions' decoded headers carry under the same names. */
interface Shared {
  type: number;
  flags: number;
  comment: Uint8Array;
  cylinders: number;
  heads: number;
  sectors: number;
  sectorSize: number;
  blocksAllocated: number;
  uuidCreate: Uint8Array;
  uuidModify: Uint8Array;
  uuidLinkage: Uint8Array;
}

/** The VdiHeader fields taken as they are from either version's header. */
function shared(path: string, f: Shared): Pick<VdiHeader, 'type' | 'flags' | 'comment' | 'blocksAllocated' | 'uuidCreate' | 'uuidModify' | 'uuidLinkage' | 'legacyGeometry'> {
  return {
    type: imageType(path, f.type),
    flags: f.flags,
    comment: commentText(f.comment),
    blocksAllocated: f.blocksAllocated,
    uuidCreate: f.uuidCreate,
    uuidModify: f.uuidModify,
    uuidLinkage: f.uuidLinkage,
    legacyGeometry: { cylinders: f.cylinders, heads: f.heads, sectors: f.sectors, sectorSize: f.sectorSize },
  };
}

/** The sizes version 0 and 1 share, from either decoded header. */
type Common = Pick<VdiHeader, 'diskSize' | 'blockSize' | 'blocks'>;

/** Checks the sizes: a power-of-two block, a block array within VDI_MAX_BLOCK_MAP_BYTES that covers the disk (VDICore.h: cbBlock "Should be a power of 2!"). */
function checkSizes(path: string, h: Common & { blockExtra: number }): void {
  const { diskSize, blockSize, blocks, blockExtra } = h;
  if (blockSize < MIN_BLOCK_SIZE || blockSize > VDI_MAX_BLOCK_SIZE || (blockSize & (blockSize - 1)) !== 0) throw corrupt(path, 'cbBlock', blockSize, `not a power of two from ${MIN_BLOCK_SIZE} to ${VDI_MAX_BLOCK_SIZE} (${limitNote('VDI_MAX_BLOCK_SIZE', VDI_MAX_BLOCK_SIZE)})`);
  if (blockExtra > VDI_MAX_BLOCK_EXTRA) throw corrupt(path, 'cbBlockExtra', blockExtra, `larger than ${VDI_MAX_BLOCK_EXTRA} (${limitNote('VDI_MAX_BLOCK_EXTRA', VDI_MAX_BLOCK_EXTRA)})`);
  if (blocks * 4 > VDI_MAX_BLOCK_MAP_BYTES) throw corrupt(path, 'cBlocks', blocks, `a block array over ${VDI_MAX_BLOCK_MAP_BYTES} bytes (${limitNote('VDI_MAX_BLOCK_MAP_BYTES', VDI_MAX_BLOCK_MAP_BYTES)})`);
  if (!Number.isSafeInteger(diskSize) || diskSize > blocks * blockSize) throw corrupt(path, 'cbDisk', diskSize, `more than cBlocks (${blocks}) × cbBlock (${blockSize})`);
}

/**
 * Parses and validates the pre-header and header in `buf` (at least
 * headerBytesNeeded bytes, or the whole file when shorter) of a file of
 * `fileSize` bytes (default: `buf` is the whole file). Throws
 * INVALID_FORMAT without the signature, UNSUPPORTED for a version other
 * than 0.x or 1.1 and for undo images, CORRUPT for sizes and offsets that
 * cannot describe an image.
 */
export function parseVdiHeader(path: string, buf: Uint8Array, fileSize = buf.length): VdiHeader {
  if (!hasVdiSignature(buf)) throw new DiskImageError('INVALID_FORMAT', `${path}: not a VDI image (no signature 0xbeda107f at byte 64)`, { path });
  const pre = decodeStruct(PRE_HEADER, buf);
  const major = pre.version >>> 16;
  const minor = pre.version & 0xffff;
  if (major > 1 || (major === 1 && minor !== 1)) throw new DiskImageError('UNSUPPORTED', `${path}: VDI version ${major}.${minor} is not supported (0.x and 1.1 are)`, { path, field: 'u32Version', value: pre.version });
  return major === 0 ? parseVersion0(path, buf, pre.version) : parseVersion1(path, buf, pre.version, fileSize);
}

function need(path: string, buf: Uint8Array, bytes: number): void {
  if (buf.length < bytes) throw new DiskImageError('CORRUPT', `${path}: VDI header needs ${bytes} bytes, the file has ${buf.length}`, { path });
}

function parseVersion0(path: string, buf: Uint8Array, version: number): VdiHeader {
  need(path, buf, PRE_HEADER_SIZE + HEADER0_SIZE);
  const f = decodeStruct(HEADER0, buf, PRE_HEADER_SIZE);
  const h = { diskSize: Number(f.diskSize), blockSize: f.blockSize, blocks: f.blocks, blockExtra: 0 };
  checkSizes(path, h);
  const headerEnd = PRE_HEADER_SIZE + HEADER0_SIZE;
  return { ...h, ...shared(path, f), version, headerEnd, blocksOffset: headerEnd, dataOffset: headerEnd + f.blocks * 4 };
}

function parseVersion1(path: string, buf: Uint8Array, version: number, fileSize: number): VdiHeader {
  need(path, buf, PRE_HEADER_SIZE + HEADER1_SIZE);
  const full = new Uint8Array(PRE_HEADER_SIZE + HEADER1PLUS_SIZE);
  full.set(buf.subarray(0, full.length));
  const f = decodeStruct(HEADER1, full, PRE_HEADER_SIZE);
  if (f.headerSize < HEADER1_SIZE || f.headerSize > VDI_MAX_HEADER_SIZE) throw corrupt(path, 'cbHeader', f.headerSize, `not from ${HEADER1_SIZE} to ${VDI_MAX_HEADER_SIZE} (${limitNote('VDI_MAX_HEADER_SIZE', VDI_MAX_HEADER_SIZE)})`);
  const h = { diskSize: Number(f.diskSize), blockSize: f.blockSize, blocks: f.blocks, blockExtra: f.blockExtra };
  checkSizes(path, h);
  const headerEnd = PRE_HEADER_SIZE + f.headerSize;
  if (headerEnd > fileSize) throw corrupt(path, 'cbHeader', f.headerSize, `the header would end at ${headerEnd}, past the end of the file (${fileSize} bytes)`);
  if (f.blocksOffset < headerEnd) throw corrupt(path, 'offBlocks', f.blocksOffset, `inside the header (which ends at ${headerEnd})`);
  if (f.dataOffset < f.blocksOffset + f.blocks * 4 && f.blocks > 0) throw corrupt(path, 'offData', f.dataOffset, `inside the block array (${f.blocksOffset} + ${f.blocks} × 4)`);
  const plus = f.headerSize >= HEADER1PLUS_SIZE;
  return {
    ...h,
    ...shared(path, f),
    version,
    headerEnd,
    blocksOffset: f.blocksOffset,
    dataOffset: f.dataOffset,
    uuidParentModify: f.uuidParentModify,
    ...(plus && { lchsGeometry: { cylinders: f.lchsCylinders, heads: f.lchsHeads, sectors: f.lchsSectors, sectorSize: f.lchsSectorSize } }),
  };
}

/** A VDI UUID as VirtualBox prints it: RTUUID's first three fields are stored little-endian, as in a Windows GUID. */
export const formatVdiUuid = formatGuid;
