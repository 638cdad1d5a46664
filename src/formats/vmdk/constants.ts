/**
 * Constants of VMware's "Virtual Disk Format 1.1" technical note (hosted
 * sparse extents, stream-optimized extents, the descriptor file) and of its
 * successor "Virtual Disk Format 5.0" where noted (zeroed-grain GTEs). Section
 * names refer to those documents; limits that are vdisk's own say so.
 */

/** Sector size: every offset and size in a sparse header, GD, GT and extent line is in 512-byte sectors ("Hosted Sparse Extent Header"). */
export const SECTOR = 512;

/** Sparse extent magic number 'KDMV' read as a little-endian u32 ("Hosted Sparse Extent Header", magicNumber). */
export const SPARSE_MAGIC = 0x564d444b;

/** Magic of an ESX VMFS sparse (COWD) extent as it appears in the file ("ESX Server Sparse Extents", magicNumber). */
export const COWD_MAGIC_TEXT = 'COWD';

/** The COWD magic read as a little-endian u32 ("ESX Server Sparse Extents", magicNumber). */
export const COWD_MAGIC = 0x44574f43;

/** Size of a COWD header: four sectors ("ESX Server Sparse Extents", COWDisk_Header). */
export const COWD_HEADER_SIZE = 2048;

/** Entries per COWD grain table ("ESX Server Sparse Extents": 4096 entries per grain table). */
export const COWD_GTES_PER_GT = 4096;

/** Size of the sparse extent header, and of the footer copy of it ("Hosted Sparse Extent Header": 512 bytes with pad). */
export const HEADER_SIZE = 512;

/** Header versions: 1 (1.1 spec), 2 (zeroed-grain GTEs, 5.0 spec), 3 (stream-optimized as ESXi writes it). */
export const MAX_VERSION = 3;

/** flags bit 0: the newline-detection characters are valid ("Hosted Sparse Extent Header", flags). */
export const FLAG_VALID_NEWLINE = 1 << 0;

/** flags bit 1: a redundant grain directory and tables are kept at rgdOffset ("Hosted Sparse Extent Header", flags). */
export const FLAG_REDUNDANT_GT = 1 << 1;

/** flags bit 2: a GTE of 1 means a zeroed grain (Virtual Disk Format 5.0, "Hosted Sparse Extent Header", flags). */
export const FLAG_ZEROED_GTE = 1 << 2;

/** flags bit 16: grains are compressed ("Stream-Optimized Compressed Sparse Extents"). */
export const FLAG_COMPRESSED = 1 << 16;

/** compressAlgorithm 1: DEFLATE, stored as a zlib (RFC 1950) stream per grain ("Stream-Optimized Compressed Sparse Extents"). */
export const COMPRESSION_DEFLATE = 1;

/** gdOffset value meaning the grain directory is found through the footer at the end ("Stream-Optimized Compressed Sparse Extents", GD_AT_END). */
export const GD_AT_END = 0xffffffffffffffffn;

/** The footer (a copy of the header with the real gdOffset) starts this many bytes before the end: footer marker, footer, end-of-stream marker ("The Footer"). */
export const FOOTER_FROM_END = 1024;

/** Size of a marker's fixed part in front of a compressed grain: lba (u64) and size (u32) ("Compressed Grain"). */
export const GRAIN_MARKER_SIZE = 12;

/** A grain table entry of 0: the grain is not allocated here (the parent's, or zeros) ("Grain Table"). */
export const GTE_UNALLOCATED = 0;

/** A grain table entry of 1: the grain reads as zeros and hides the parent (Virtual Disk Format 5.0, "Grain Table"). */
export const GTE_ZEROED = 1;

/** Bytes in a GD or GT entry: u32 sector offsets ("Grain Directories and Grain Tables"). */
export const ENTRY_SIZE = 4;



/** parentCID meaning "no parent" ("The Descriptor File", Header: parentCID=ffffffff). */
export const NO_PARENT_CID = 0xffffffff;

/**
 * vdisk's own disk database key (without the `ddb.` prefix; "The Disk
 * Database" holds any key, and VMware keeps keys it does not know): the CID
 * a delta's parent takes at its first change while a commit into the parent
 * runs. vdisk accepts a parent with this CID as well as parentCID, so the
 * delta stays linked at every crash point of the commit; the commit's end
 * re-links the delta and removes the key.
 */
export const NEXT_PARENT_CID_KEY = 'vdisk.nextParentCID';



/** The first line of a descriptor file ("The Descriptor File"). */
export const DESCRIPTOR_SIGNATURE = '# Disk DescriptorFile';

/** vdisk's cap on a virtual disk: 2^53 bytes, the largest size a JavaScript number holds exactly. */
export const MAX_VIRTUAL_BYTES = Number.MAX_SAFE_INTEGER - (Number.MAX_SAFE_INTEGER % SECTOR);

/** Header version vdisk writes for hosted sparse extents: 1, the 1.1 spec's ("Hosted Sparse Extent Header", version). */
export const SPARSE_VERSION = 1;

/** Sectors per grain vdisk writes: 128, 64 KiB, as VMware and qemu-img do ("Hosted Sparse Extent Header", grainSize: "default 128"). */
export const WRITE_GRAIN_SECTORS = 128;

/** Entries per grain table vdisk writes: 512, the only value the spec allows ("Grain Table": numGTEsPerGT "is always 512"). */
export const WRITE_GTES_PER_GT = 512;

/** Sectors kept for an embedded descriptor: 20, as VMware Workstation and qemu-img reserve, so it can grow in place ("The Descriptor File"). */
export const EMBEDDED_DESCRIPTOR_SECTORS = 20;

/**
 * The largest offset a u32 sector pointer reaches (GD and GT entries are u32
 * sectors, "Grain Directories and Grain Tables"): a sparse extent file vdisk
 * writes stays below 2 TiB.
 */
export const MAX_SPARSE_FILE_SECTORS = 2 ** 32;


/** flags bit 17: the extent holds markers in front of grains and metadata ("Stream-Optimized Compressed Sparse Extents"; qemu and ESXi read markers only with it set). */
export const FLAG_MARKERS = 1 << 17;

/** Header version vdisk writes for stream-optimized extents: ESXi refuses lower ones as "sparse VMDK version too old" (docs/formats/vmdk.md). */
export const STREAM_VERSION = 3;

/** Marker types of a stream-optimized extent ("Stream-Optimized Compressed Sparse Extents", "Markers": MARKER_EOS..MARKER_FOOTER). */
export const MARKER = { eos: 0, gt: 1, gd: 2, footer: 3 } as const;

/** Sectors of each extent of a twoGbMaxExtentSparse or twoGbMaxExtentFlat disk vdisk writes but the last: 4192256 (2047 MiB), as VMware Workstation splits them ("The Descriptor File", twoGbMaxExtentSparse/Flat: extents of at most 2 GB). */
export const SPLIT_EXTENT_SECTORS = 4192256;
