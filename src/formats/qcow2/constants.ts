/**
 * qcow2 on-disk constants, from QEMU's docs/interop/qcow2.txt (sections named
 * in each comment). All numbers in a qcow2 file are big-endian ("General").
 */

/** "QFI\xfb" as a big-endian u32 ("Header", bytes 0-3). */
export const QCOW2_MAGIC = 0x514649fb;

/** Header bytes of version 2; version 3 headers are at least V3_HEADER_SIZE ("Header", after byte 71). */
export const V2_HEADER_SIZE = 72;

/** Smallest version 3 header: every field through header_length ("Header", bytes 72-103). */
export const V3_HEADER_SIZE = 104;

/** header_length of the version 3 headers vdisk writes: through compression_type, padded to 8 bytes (as qemu writes them; "Additional fields"). */
export const WRITTEN_V3_HEADER_LENGTH = 112;

/** Byte offset of the incompatible features field ("Header", bytes 72-79). */
export const INCOMPATIBLE_OFFSET = 72;

/** Byte offset of the size field ("Header", bytes 24-31); crypt_method, l1_size and l1_table_offset follow up to byte 47. */
export const SIZE_OFFSET = 24;
/** Byte offset of l1_size ("Header", bytes 36-39). */
export const L1_SIZE_OFFSET = 36;
/** Byte offset of l1_table_offset ("Header", bytes 40-47). */
export const L1_TABLE_OFFSET_OFFSET = 40;
/** End of l1_table_offset: size to here is rewritten in one write by a resize ("Header", bytes 24-47). */
export const SIZE_FIELDS_END = 48;

/** Byte offset of the autoclear features field ("Header", bytes 88-95). */
export const AUTOCLEAR_OFFSET = 88;

/** Byte offset of refcount_table_offset; refcount_table_clusters follows at 56 ("Header", bytes 48-59). */
export const REFCOUNT_TABLE_FIELDS_OFFSET = 48;

/** cluster_bits vdisk writes by default: 64 KiB clusters, qemu's default ("Header", bytes 20-23). */
export const DEFAULT_CLUSTER_BITS = 16;

/** refcount_order vdisk writes and the only one it updates: 16-bit refcounts, qemu's default ("Header", bytes 96-99). */
export const WRITTEN_REFCOUNT_ORDER = 4;

/** Bytes of one refcount vdisk writes: 2 ** WRITTEN_REFCOUNT_ORDER bits ("Refcount block entry"). */
export const WRITTEN_REFCOUNT_BYTES = 2;

/** The largest refcount vdisk writes: a 16-bit count ("Refcount block entry", refcount_order 4). */
export const MAX_WRITTEN_REFCOUNT = 0xffff;

/** End of the compression_type field: a header_length past it holds the field ("Additional fields", byte 104). */
export const COMPRESSION_TYPE_END = 105;

/** Smallest and largest cluster_bits vdisk (and qemu) opens: 512 B to 2 MiB ("Header", bytes 20-23). */
export const MIN_CLUSTER_BITS = 9;
/** See MIN_CLUSTER_BITS: qemu's implementation limit of 2 MB clusters. */
export const MAX_CLUSTER_BITS = 21;

/** Smallest cluster_bits with Extended L2 Entries ("Header", bytes 20-23). */
export const MIN_EXTENDED_L2_CLUSTER_BITS = 14;

/** Longest backing file name ("Header", bytes 16-19: "Must not be longer than 1023 bytes"). */
export const MAX_BACKING_NAME = 1023;



/** Largest refcount_order: 64-bit refcounts ("Header", bytes 96-99). */
export const MAX_REFCOUNT_ORDER = 6;

/** refcount_order a version 2 image always has ("Header", bytes 96-99). */
export const V2_REFCOUNT_ORDER = 4;

/** crypt_method values ("Header", bytes 32-35): 0 none, 1 AES, 2 LUKS. */
export const CRYPT_METHODS: Record<number, string> = { 1: 'AES', 2: 'LUKS' };

/** Incompatible feature bits ("Header", bytes 72-79). */
export const INCOMPAT_DIRTY = 0;
/** See INCOMPAT_DIRTY. */
export const INCOMPAT_CORRUPT = 1;
/** See INCOMPAT_DIRTY. */
export const INCOMPAT_DATA_FILE = 2;
/** See INCOMPAT_DIRTY. */
export const INCOMPAT_COMPRESSION = 3;
/** See INCOMPAT_DIRTY. */
export const INCOMPAT_EXTENDED_L2 = 4;
/** Incompatible bits vdisk understands; any other set bit refuses the image. */
export const KNOWN_INCOMPAT = [INCOMPAT_DIRTY, INCOMPAT_CORRUPT, INCOMPAT_DATA_FILE, INCOMPAT_COMPRESSION, INCOMPAT_EXTENDED_L2];
/** Names of the incompatible bits, as qemu's feature name table spells them. */
export const INCOMPAT_NAMES: Record<number, string> = { 0: 'dirty bit', 1: 'corrupt bit', 2: 'external data file', 3: 'compression type', 4: 'extended L2 entries' };

/** Compatible feature bit 0: lazy refcounts ("Header", bytes 80-87). */
export const COMPAT_LAZY_REFCOUNTS = 0;

/** Autoclear feature bit 0: the bitmaps extension is consistent ("Header", bytes 88-95). */
export const AUTOCLEAR_BITMAPS = 0;
/** Autoclear feature bit 1: the external data file is a consistent raw image ("Header", bytes 88-95). */
export const AUTOCLEAR_DATA_FILE_RAW = 1;

/** compression_type values ("Additional fields", byte 104). */
export const COMPRESSION_ZLIB = 0;
/** See COMPRESSION_ZLIB. */
export const COMPRESSION_ZSTD = 1;

/** Header extension types ("Header extensions"). */
export const EXT_END = 0x00000000;
/** See EXT_END. */
export const EXT_BACKING_FORMAT = 0xe2792aca;
/** See EXT_END. */
export const EXT_FEATURE_NAMES = 0x6803f857;
/** See EXT_END. */
export const EXT_BITMAPS = 0x23852875;
/** See EXT_END. */
export const EXT_FDE = 0x0537be77;
/** See EXT_END. */
export const EXT_DATA_FILE = 0x44415441;

/** Bytes of one feature name table entry ("Feature name table"). */
export const FEATURE_NAME_ENTRY = 48;

/** Bytes of the bitmaps extension data ("Bitmaps extension"). */
export const BITMAPS_EXT_SIZE = 24;

/** Bytes of the full disk encryption header pointer ("Full disk encryption header pointer"). */
export const FDE_EXT_SIZE = 16;

/** Bytes of one standard L1, L2 or refcount table entry ("Cluster mapping"). */
export const ENTRY_BYTES = 8;

/** Bytes of one extended L2 entry: descriptor then subcluster bitmap ("Extended L2 Entries"). */
export const EXTENDED_ENTRY_BYTES = 16;

/** Subclusters per cluster with Extended L2 Entries ("Extended L2 Entries"). */
export const SUBCLUSTERS = 32;

/** Sector unit of a compressed cluster's length field ("Cluster mapping", Compressed Clusters Descriptor). */
export const COMPRESSED_SECTOR = 512;

/** Bytes of a bitmap directory entry before its extra data and name ("Bitmap directory"). */
export const BITMAP_ENTRY_FIXED_SIZE = 24;



/** Bytes of a snapshot table entry before its extra data ("Snapshots"). */
export const SNAPSHOT_FIXED_SIZE = 40;



