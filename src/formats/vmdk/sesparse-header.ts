import { DiskImageError } from '../../errors.js';
import { decodeStruct, defineStruct } from '../../util/struct.js';
import { limitNote, VMDK_MAX_GRAIN_SECTORS, VMDK_MAX_GTES_PER_GT } from '../../limits.js';
import { SECTOR } from './constants.js';
import { headerFieldError, headerSectors } from './header.js';

/*
 * The seSparse extent (ESXi 6.5+ snapshots on VMFS 6, and VMFS 5 disks over
 * 2 TiB) has no public specification. Its layout here is the one qemu reads
 * (block/vmdk.c, VMDKSESparseConstHeader and get_cluster_offset, since qemu
 * 4.2), checked against `qemu-img convert` in test/formats/vmdk/sesparse.test.ts.
 */

/** Magic of the constant header, a u64 at byte 0 (qemu SESPARSE_CONST_HEADER_MAGIC). */
export const SESPARSE_CONST_MAGIC = 0xcafebaben;

/** Magic of the volatile header, a u64 (qemu SESPARSE_VOLATILE_HEADER_MAGIC). */
export const SESPARSE_VOLATILE_MAGIC = 0xcafecafen;

/** The only version written: 0x0000000200000001 (qemu check_se_sparse_const_header). */
export const SESPARSE_VERSION = 0x0000000200000001n;

/** Bytes of each header: one sector (qemu asserts sizeof == SECTOR_SIZE). */
export const SESPARSE_HEADER_SIZE = 512;

/** Bytes of one grain directory or grain table entry: a u64. */
export const SESPARSE_ENTRY_SIZE = 8;

/** The constant header, little-endian; sizes and offsets in sectors (qemu VMDKSESparseConstHeader). */
const CONST_HEADER = defineStruct('VMDKSESparseConstHeader', SESPARSE_HEADER_SIZE, 'le', {
  magic: { offset: 0, type: 'u64' },
  version: { offset: 8, type: 'u64' },
  capacity: { offset: 16, type: 'u64' },
  grainSize: { offset: 24, type: 'u64' },
  grainTableSize: { offset: 32, type: 'u64' },
  flags: { offset: 40, type: 'u64' },
  reserved: { offset: 48, type: 'bytes', length: 32 },
  volatileHeaderOffset: { offset: 80, type: 'u64' },
  volatileHeaderSize: { offset: 88, type: 'u64' },
  journalHeaderOffset: { offset: 96, type: 'u64' },
  journalHeaderSize: { offset: 104, type: 'u64' },
  journalOffset: { offset: 112, type: 'u64' },
  journalSize: { offset: 120, type: 'u64' },
  grainDirOffset: { offset: 128, type: 'u64' },
  grainDirSize: { offset: 136, type: 'u64' },
  grainTablesOffset: { offset: 144, type: 'u64' },
  grainTablesSize: { offset: 152, type: 'u64' },
  freeBitmapOffset: { offset: 160, type: 'u64' },
  freeBitmapSize: { offset: 168, type: 'u64' },
  backmapOffset: { offset: 176, type: 'u64' },
  backmapSize: { offset: 184, type: 'u64' },
  grainsOffset: { offset: 192, type: 'u64' },
  grainsSize: { offset: 200, type: 'u64' },
  pad: { offset: 208, type: 'bytes', length: 304 },
});

/** The volatile header, little-endian (qemu VMDKSESparseVolatileHeader). */
const VOLATILE_HEADER = defineStruct('VMDKSESparseVolatileHeader', SESPARSE_HEADER_SIZE, 'le', {
  magic: { offset: 0, type: 'u64' },
  freeGtNumber: { offset: 8, type: 'u64' },
  nextTxnSeqNumber: { offset: 16, type: 'u64' },
  replayJournal: { offset: 24, type: 'u64' },
  pad: { offset: 32, type: 'bytes', length: 480 },
});

/** A checked constant header: sizes and offsets in sectors, as plain numbers. */
export interface SeSparseHeader {
  /** Sectors of the extent. */
  capacity: number;
  /** Sectors per grain (qemu accepts only 8: 4 KiB grains). */
  grainSize: number;
  /** Entries per grain table (qemu accepts only 4096: 64 sectors of u64s). */
  perTable: number;
  volatileHeaderOffset: number;
  grainDirOffset: number;
  /** Entries the grain directory has room for. */
  grainDirEntries: number;
  grainTablesOffset: number;
  grainsOffset: number;
}

const corrupt = (field: string, value: unknown, why: string): DiskImageError => headerFieldError('CORRUPT', 'seSparse header', field, value, why);
const unsupported = (field: string, value: unknown, why: string): DiskImageError => headerFieldError('UNSUPPORTED', 'seSparse header', field, value, why);
const sectors = (field: string, v: bigint): number => headerSectors('seSparse header', field, v);

/** True when `head` starts with the constant header's magic and version: the first sector of a seSparse extent file. */
export function isSeSparse(head: Uint8Array): boolean {
  if (head.length < 16) return false;
  const view = new DataView(head.buffer, head.byteOffset, 16);
  return view.getBigUint64(0, true) === SESPARSE_CONST_MAGIC && view.getBigUint64(8, true) === SESPARSE_VERSION;
}

/**
 * Decodes and checks the constant header as strictly as qemu does, since the
 * format is not documented: the magic, version 0x0000000200000001, flags and
 * reserved fields zero. Unlike qemu, any power-of-two grain up to
 * VMDK_MAX_GRAIN_SECTORS and any grain table of 1 to 64 sectors is read.
 * Offsets are checked against the file by the caller.
 */
export function parseSeSparseHeader(buf: Uint8Array): SeSparseHeader {
  const f = decodeStruct(CONST_HEADER, buf);
  if (f.magic !== SESPARSE_CONST_MAGIC) throw new DiskImageError('INVALID_FORMAT', 'not a VMDK seSparse extent (no 0xcafebabe magic)', { field: 'magic', value: String(f.magic) });
  if (f.version !== SESPARSE_VERSION) throw unsupported('version', `0x${f.version.toString(16)}`, `is not supported (0x${SESPARSE_VERSION.toString(16)})`);
  if (f.flags !== 0n) throw unsupported('flags', `0x${f.flags.toString(16)}`, 'are not supported (0)');
  if (f.reserved.some((b) => b !== 0) || f.pad.some((b) => b !== 0)) throw unsupported('reserved fields', 'non-zero', 'are not supported');
  const grainSize = sectors('grainSize', f.grainSize);
  if (grainSize < 1 || grainSize > VMDK_MAX_GRAIN_SECTORS || (grainSize & (grainSize - 1)) !== 0) {
    throw corrupt('grainSize', grainSize, `is not a power of two from 1 to ${VMDK_MAX_GRAIN_SECTORS} sectors (${limitNote('VMDK_MAX_GRAIN_SECTORS', VMDK_MAX_GRAIN_SECTORS)})`);
  }
  const tableSectors = sectors('grainTableSize', f.grainTableSize);
  const perTable = (tableSectors * SECTOR) / SESPARSE_ENTRY_SIZE;
  if (tableSectors < 1 || perTable > VMDK_MAX_GTES_PER_GT) {
    throw corrupt('grainTableSize', tableSectors, `is not from 1 to ${(VMDK_MAX_GTES_PER_GT * SESPARSE_ENTRY_SIZE) / SECTOR} sectors (${limitNote('VMDK_MAX_GTES_PER_GT', VMDK_MAX_GTES_PER_GT)})`);
  }
  return {
    capacity: sectors('capacity', f.capacity),
    grainSize,
    perTable,
    volatileHeaderOffset: sectors('volatileHeaderOffset', f.volatileHeaderOffset),
    grainDirOffset: sectors('grainDirOffset', f.grainDirOffset),
    grainDirEntries: (sectors('grainDirSize', f.grainDirSize) * SECTOR) / SESPARSE_ENTRY_SIZE,
    grainTablesOffset: sectors('grainTablesOffset', f.grainTablesOffset),
    grainsOffset: sectors('grainsOffset', f.grainsOffset),
  };
}

/** Checks the volatile header: its magic, and no journal left to replay (an extent ESXi did not close cleanly is UNSUPPORTED, as in qemu). */
export function checkSeSparseVolatileHeader(buf: Uint8Array): void {
  const f = decodeStruct(VOLATILE_HEADER, buf);
  if (f.magic !== SESPARSE_VOLATILE_MAGIC) throw corrupt('volatile header magic', `0x${f.magic.toString(16)}`, 'is not 0xcafecafe');
  if (f.replayJournal !== 0n) throw new DiskImageError('UNSUPPORTED', 'VMDK seSparse extent has a journal to replay (not closed cleanly): vdisk does not replay seSparse journals; let ESXi consolidate the snapshot', { field: 'replayJournal', value: String(f.replayJournal) });
  if (f.pad.some((b) => b !== 0)) throw unsupported('volatile header padding', 'non-zero', 'is not supported');
}
