/**
 * Constants of [MS-VHDX] "Virtual Hard Disk v2 (VHDX) File Format" (v20160714
 * and later revisions). Section numbers refer to that document.
 */
import { guidBytes } from '../../util/guid.js';

/** 1 MiB: alignment of regions, blocks and the log (2.2, 2.5). */
export const MiB = 1024 * 1024;

/** 64 KiB: size of the file type identifier, each header slot and each region table (2.2). */
export const KiB64 = 64 * 1024;

/** File type identifier signature "vhdxfile" at offset 0 (2.2.1). */
export const FILE_SIGNATURE = 'vhdxfile';

/** Offsets of the two headers (2.2.2) and two region tables (2.2.3). */
export const HEADER_OFFSETS = [64 * 1024, 128 * 1024] as const;
export const REGION_TABLE_OFFSETS = [192 * 1024, 256 * 1024] as const;

/** Size of a header as checksummed (2.2.2). */
export const HEADER_SIZE = 4096;

/** Header signature "head" (2.2.2). */
export const HEADER_SIGNATURE = 'head';

/** Region table signature "regi"; at most 2047 entries (2.2.3). */
export const REGION_SIGNATURE = 'regi';
export const MAX_REGION_ENTRIES = 2047;

/** Region GUIDs (2.2.3.1). */
export const BAT_REGION = guidBytes('2DC27766-F623-4200-9D64-115E9BFD4A08');
export const METADATA_REGION = guidBytes('8B7CA206-4790-4B9A-B8FE-575F050F886E');

/** Metadata table signature "metadata"; at most 2047 entries; items start at 64 KiB (2.6.1). */
export const METADATA_SIGNATURE = 'metadata';
export const MAX_METADATA_ENTRIES = 2047;

/** Metadata item GUIDs (2.6.2). */
export const Item = {
  fileParameters: guidBytes('CAA16737-FA36-4D43-B3B6-33F0AA44E76B'),
  virtualDiskSize: guidBytes('2FA54224-CD1B-4876-B211-5DBED83BF4B8'),
  page83Data: guidBytes('BECA12AB-B2E6-4523-93EF-C309E000C746'),
  logicalSectorSize: guidBytes('8141BF1D-A96F-4709-BA47-F233A8FAAB5F'),
  physicalSectorSize: guidBytes('CDA348C7-445D-4471-9CC9-E9885251C556'),
  parentLocator: guidBytes('A8D35F2D-B30B-454D-ABF7-D3D84834AB0C'),
} as const;

/** Locator type of a VHDX parent locator (2.6.2.6). */
export const VHDX_LOCATOR_TYPE = guidBytes('B04AEFB7-D19E-4A81-B789-25B8E9445913');

/** File parameter flags (2.6.2.1). */
export const LEAVE_BLOCKS_ALLOCATED = 1;
export const HAS_PARENT = 2;

/** Payload block states in a BAT entry's low 3 bits (2.5.1.1). */
export const PayloadState = {
  notPresent: 0,
  undefined: 1,
  zero: 2,
  unmapped: 3,
  fullyPresent: 6,
  partiallyPresent: 7,
} as const;

/** Sector bitmap block states (2.5.1.2). */
export const BitmapState = { notPresent: 0, present: 6 } as const;

/** Block size limits: 1 MiB to 256 MiB, a power of two (2.6.2.1). */
export const MIN_BLOCK_SIZE = MiB;
export const MAX_BLOCK_SIZE = 256 * MiB;

/** Largest virtual size: 64 TiB (2.6.2.2). */
export const MAX_VIRTUAL_SIZE = 64 * 1024 ** 4;

/** Chunk size: one sector bitmap block covers 2^23 sectors (2.5). */
export const SECTORS_PER_BITMAP_BLOCK = 2 ** 23;

/** Log: entries are 4 KiB aligned; signatures "loge", "desc", "zero", "data" (2.3). */
export const LOG_SECTOR = 4096;


/** Default block size vdisk writes: 32 MiB, as Hyper-V (issue 5). */
export const DEFAULT_BLOCK_SIZE = 32 * MiB;
