/**
 * VDI constants. Source: VirtualBox's src/VBox/Storage/VDICore.h (VDIPREHEADER,
 * VDIHEADER0, VDIHEADER1, VDIHEADER1PLUS, VDI_IMAGE_BLOCK_*, VDIIMAGETYPE);
 * each constant names the structure or macro it comes from.
 */

/** VDI_IMAGE_SIGNATURE: VDIPREHEADER.u32Signature, little-endian at byte 64. */
export const VDI_SIGNATURE = 0xbeda107f;

/** sizeof(VDIPREHEADER): szFileInfo[64], u32Signature, u32Version. */
export const PRE_HEADER_SIZE = 72;

/** Bytes of VDIPREHEADER.szFileInfo ("Just text info about image type, for eyes only"). */
export const FILE_INFO_SIZE = 64;

/** VDI_IMAGE_FILE_INFO, what VirtualBox writes in szFileInfo (and vdisk too). */
export const FILE_INFO = '<<< Oracle VM VirtualBox Disk Image >>>\n';

/** VDI_IMAGE_VERSION: major 1, minor 1, as (major << 16) | minor in VDIPREHEADER.u32Version. */
export const VERSION_1_1 = 0x00010001;

/** sizeof(VDIHEADER0): the version 0 header, after the pre-header. */
export const HEADER0_SIZE = 348;

/** sizeof(VDIHEADER1): the smallest cbHeader a version 1 header may have. */
export const HEADER1_SIZE = 384;

/** sizeof(VDIHEADER1PLUS): VDIHEADER1 with LCHSGeometry, what VirtualBox writes. */
export const HEADER1PLUS_SIZE = 400;


/** Byte offset of VDIHEADER1.cBlocksAllocated in the file: the pre-header plus 316 (VDICore.h VDIHEADER1). */
export const BLOCKS_ALLOCATED_AT = PRE_HEADER_SIZE + 316;

/** Bytes of szComment (VDI_IMAGE_COMMENT_SIZE). */
export const COMMENT_SIZE = 256;

/** VDI_IMAGE_BLOCK_FREE: a block not in the file; a differencing image reads its parent there, a base reads zeros. */
export const BLOCK_FREE = 0xffffffff;

/** VDI_IMAGE_BLOCK_ZERO: a block not in the file that reads as zeros (also in a differencing image). */
export const BLOCK_ZERO = 0xfffffffe;

/** VDIIMAGETYPE: VDI_IMAGE_TYPE_NORMAL, a dynamically growing base. */
export const TYPE_NORMAL = 1;
/** VDIIMAGETYPE: VDI_IMAGE_TYPE_FIXED, a preallocated base. */
export const TYPE_FIXED = 2;
/** VDIIMAGETYPE: VDI_IMAGE_TYPE_UNDO, an undo/commit image (VirtualBox 1.x). */
export const TYPE_UNDO = 3;
/** VDIIMAGETYPE: VDI_IMAGE_TYPE_DIFF, a differencing image over the image whose uuidCreate is its uuidLinkage. */
export const TYPE_DIFF = 4;

/** VDI_IMAGE_DEFAULT_BLOCK_SIZE (VDIHDDCore.cpp): 1 MiB. */
export const DEFAULT_BLOCK_SIZE = 1024 * 1024;

/** VDI_DATA_ALIGN: VirtualBox aligns the block array and the data area to 1 MiB. */
export const DATA_ALIGN = 1024 * 1024;

/** VDI_GEOMETRY_SECTOR_SIZE: the only sector size VirtualBox supports. */
export const SECTOR = 512;

/** Smallest cbBlock vdisk reads: one sector. */
export const MIN_BLOCK_SIZE = SECTOR;

