/**
 * Every policy limit vdisk sets on hostile input, in one place (issue 20).
 * A limit here bounds the memory or time one input may cost: a count or a
 * size read from an image, a descriptor, an NBD client or a backup
 * repository, checked before anything is allocated for it. Facts of a format
 * (field offsets, the sizes a spec fixes) stay in the format's folder.
 * docs/security.md has the table (value, reason, source, how to raise);
 * test/limits.test.ts keeps the two in step.
 *
 * An error a limit raises names it through limitNote(), which says how to
 * raise it or that it cannot be.
 */

const KiB = 1024;
const MiB = 1024 * 1024;

/** Deepest chain of differencing images opened (the browser's default; the CLI and library read maxChainDepth()). A longer chain is refused as a likely loop or a hostile file; each layer holds its own metadata in memory, at most METADATA_BUDGET. */
export const MAX_CHAIN_DEPTH = 64;

/**
 * Bytes of metadata tables one opened image file (one layer) may hold in
 * memory together, charged through MetadataBudget (src/util/metadata-budget.ts)
 * before each is allocated. Each table below has its own limit, but a hostile
 * image could hold several near theirs at once (about 170 MiB for a qcow2 L1
 * table, refcount table, snapshot table and bitmap directory). What real large
 * images need: a 64 TiB VHDX at 32 MiB blocks, 2 Mi BAT entries at 9 bytes
 * each, 18 MiB; a 2 TiB qcow2 at 64 KiB clusters, a 32 KiB L1 table and a
 * 64 KiB refcount table; the largest qcow2 tables qemu accepts, a 32 MiB
 * L1 (128 GiB at 512-byte clusters, 2 PiB at 64 KiB) and an 8 MiB refcount
 * table, plus the 32 MiB L1 `check` reads again while it walks, 72 MiB; a 2040 GiB VHD at 2 MiB blocks, a 4 MiB BAT
 * (64 MiB at VHD_MAX_BAT_ENTRIES); an 8 TiB VDI at 1 MiB blocks, a 32 MiB
 * block array; a VMDK holds only fixed-size caches. 80 MiB admits all of
 * these, and keeps a hostile qcow2 layer (with its 32 MiB L2 cache and the
 * transient read buffers) under the 256 MiB the hostile-input rule
 * allows (docs/security.md measures 164-194 MiB peak RSS). Source: vdisk,
 * from the figures above.
 */
export const METADATA_BUDGET = 80 * MiB;

/** Most files one directory contributes to an "any file with this extension" parent candidate (VHDX without a path, VMDK hints): each is opened to read its identity. */
export const MAX_SCANNED_FILES = 256;

/** Largest Zstandard window the decoder may allocate: a qcow2 cluster (2 MiB at most, qemu's limit) needs no more than itself. */
export const MAX_ZSTD_WINDOW = 8 * MiB;

/** Most VHD BAT entries kept in memory (64 MiB as a Uint32Array): 2040 GiB at 128 KiB blocks. Real writers use 512 KiB or 2 MiB blocks. */
export const VHD_MAX_BAT_ENTRIES = 16 * MiB;

/** Longest VHD parent locator payload read: a path of 32 K UTF-16 units (the Windows path limit), as bytes. */
export const VHD_MAX_LOCATOR_BYTES = 64 * KiB;

/** Most VHDX BAT entries read (4 Mi: 4 TiB at 1 MiB blocks, 64 TiB at 16 MiB), kept as 9 bytes per block: at most 36 MiB of memory. */
export const VHDX_MAX_BAT_ENTRIES = 4 * MiB;

/** Largest VHDX parent locator metadata item read (2.6.2.6 sets no bound; Hyper-V writes under 1 KiB). */
export const VHDX_MAX_LOCATOR_ITEM = 64 * KiB;

/** Most key/value pairs read from a VHDX parent locator (2.6.2.6: a u16 count; Hyper-V writes 4 or 5). */
export const VHDX_MAX_LOCATOR_ENTRIES = 256;

/** Largest VHDX log replayed (LogLength is a u32, 2.2.2); qemu and Hyper-V write 1 MiB logs. */
export const VHDX_MAX_LOG_LENGTH = 64 * MiB;

/** Most steps the search for the active VHDX log sequence may take (a 64 MiB log has 16384 sectors), so a log of stale overlapping entries cannot make it quadratic. */
export const VHDX_MAX_LOG_SEARCH_STEPS = 10_000_000;

/** Least number of candidate-entry bytes one VHDX log scan may checksum (8 × the log length when larger), so a log of stale overlapping entries cannot make the scan quadratic. */
export const VHDX_LOG_SCAN_BUDGET = 256 * MiB;

/** Largest VMDK descriptor read, embedded or a file: qemu-img and VMware write well under 2 KiB. */
export const VMDK_MAX_DESCRIPTOR_BYTES = 64 * KiB;

/** Most extent lines in one VMDK descriptor: a 4 TiB twoGbMaxExtent disk has 2048. Each extent is an open file. */
export const VMDK_MAX_EXTENTS = 2048;

/** Largest numGTEsPerGT read: the VMDK spec fixes 512 ("Grain Table"), COWD uses 4096; one table is at most 16 KiB. */
export const VMDK_MAX_GTES_PER_GT = 4096;

/** Largest VMDK grainSize read, in sectors (16 MiB): a grain is the unit decompressed, so this bounds the bytes one compressed grain may inflate to. */
export const VMDK_MAX_GRAIN_SECTORS = 32768;

/** Largest active qcow2 L1 table, in bytes: qemu's QCOW_MAX_L1_SIZE (32 MiB). */
export const QCOW2_MAX_L1_BYTES = 32 * MiB;

/** Largest qcow2 refcount table, in bytes: qemu's QCOW_MAX_REFTABLE_SIZE (8 MiB). */
export const QCOW2_MAX_REFCOUNT_TABLE_BYTES = 8 * MiB;

/** Most qcow2 snapshots read: qemu's QCOW_MAX_SNAPSHOTS. */
export const QCOW2_MAX_SNAPSHOTS = 65536;

/** Longest qcow2 snapshot table read, in bytes: qemu's QCOW_MAX_SNAPSHOTS_SIZE (64 MiB). */
export const QCOW2_MAX_SNAPSHOT_TABLE_BYTES = 64 * MiB;

/** Most extra data per qcow2 snapshot entry read: qemu's QCOW_MAX_SNAPSHOT_EXTRA_DATA. */
export const QCOW2_MAX_SNAPSHOT_EXTRA = 1024;

/** Most qcow2 persistent bitmaps read: qemu's QCOW2_MAX_BITMAPS. */
export const QCOW2_MAX_BITMAPS = 65535;

/** Longest qcow2 bitmap directory read, in bytes: qemu's QCOW2_MAX_BITMAP_DIRECTORY_SIZE (1024 × 65535). */
export const QCOW2_MAX_BITMAP_DIRECTORY_BYTES = 1024 * 65535;

/** Most clusters whose refcount `check` recomputes (a Uint16Array of counts, 64 MiB); past it the comparison is skipped with a warning. */
export const QCOW2_MAX_CHECKED_CLUSTERS = 32 * MiB;

/** Largest VDI cbHeader read: the pre-header (72 bytes) and header fit in the first MiB, where VirtualBox starts data (VDI_DATA_ALIGN). */
export const VDI_MAX_HEADER_SIZE = MiB - 72;

/** Largest VDI cbBlock read (VDICore.h only asks for a power of two): 256 MiB, so one block never needs more memory than that; VirtualBox writes 1 MiB. */
export const VDI_MAX_BLOCK_SIZE = 256 * MiB;

/** Largest VDI cbBlockExtra read: as large as a block (VirtualBox writes 0). */
export const VDI_MAX_BLOCK_EXTRA = VDI_MAX_BLOCK_SIZE;

/** Largest VDI block array read (cBlocks × 4 bytes): 32 MiB, 8 Mi blocks, 8 TiB of 1 MiB blocks. */
export const VDI_MAX_BLOCK_MAP_BYTES = 32 * MiB;

/** Largest NBD READ or WRITE payload served: 2^25, the default every client may assume (proto.md, "Size constraints"), advertised in NBD_INFO_BLOCK_SIZE. */
export const NBD_MAX_PAYLOAD = 32 * MiB;

/** Longest NBD option data read during the handshake; longer is taken as a denial of service (proto.md, "Termination of the session during option haggling"). */
export const NBD_MAX_OPTION_DATA = 64 * KiB;

/** Most descriptors in one NBD block status chunk: well under the 2^20 a server SHOULD NOT exceed (proto.md, "Structured reply types"); the client asks again for the rest. */
export const NBD_MAX_STATUS_DESCRIPTORS = 65536;

/** Payload bytes in flight over all NBD connections of a server (and READ buffers kept for reuse), so memory stays bounded however many clients pipeline; NbdServerOptions.budget sets another. */
export const NBD_SERVER_BUDGET = 32 * MiB;

/** Payload bytes in flight on one NBD connection (a quarter of the server's, so one client cannot take it all); a larger request takes all of it. */
export const NBD_CONNECTION_BUDGET = 8 * MiB;

/** Requests in flight on one NBD connection; the server stops reading the socket past it. */
export const NBD_MAX_IN_FLIGHT = 64;

/** Time a client has to finish the NBD handshake (from accept to NBD_OPT_GO or NBD_OPT_EXPORT_NAME), so one that connects and stalls cannot hold a socket forever; qemu's NBD server drops such clients after 10 s too (CVE-2024-7409, commit b9b72cb3). The transmission phase has none: an idle client there is legitimate. NbdServerOptions.handshakeTimeout sets another. */
export const NBD_HANDSHAKE_TIMEOUT_MS = 10_000;

/** Most NBD connections open at once on one server (handshaking or transmitting); one more is closed before the greeting, so file descriptors and per-connection state stay bounded; qemu caps its NBD server at 100 by default (CVE-2024-7409, commit c8a76dbd), nbdcopy opens 4 by default. NbdServerOptions.maxConnections sets another. */
export const NBD_MAX_CONNECTIONS = 128;

/** Most chunks one backup snapshot index lists: 2^22 chunks of 4 MiB, a 16 TiB disk (128 MiB of digests). */
export const BACKUP_MAX_INDEX_ENTRIES = 4 * MiB;

/** Largest JSON object (repository config, manifest, an index's metadata) read from a backup repository. */
export const BACKUP_MAX_JSON_BYTES = 64 * KiB;

/** Largest S3 listing page or error document read (a 1000-key page is about 300 KB). */
export const BACKUP_MAX_XML_BYTES = 16 * MiB;

/** Most source files one backup records for its incremental shortcut (their list must fit the 64 KiB of index metadata; beyond it a backup reads everything). */
export const BACKUP_MAX_SOURCE_FILES = 200;

/** Largest lease heartbeat object read from a backup repository. */
export const BACKUP_MAX_BEAT_BYTES = 4096;

/** The environment variable that raises MAX_CHAIN_DEPTH for the library and CLI. */
export const CHAIN_DEPTH_ENV = 'VDISK_MAX_CHAIN_DEPTH';

/**
 * The deepest chain opened: VDISK_MAX_CHAIN_DEPTH when it is a whole number
 * from 1 to 4096, else MAX_CHAIN_DEPTH. Raising it is safe for a trusted
 * chain: loops are still refused by identity, and each extra layer costs
 * only its own metadata (bounded by the limits above) and an open file.
 */
export function maxChainDepth(env: Record<string, string | undefined>): number {
  const n = Number(env[CHAIN_DEPTH_ENV]);
  return Number.isInteger(n) && n >= 1 && n <= 4096 ? n : MAX_CHAIN_DEPTH;
}

/** How the limits that can be raised, or got around, are; every other limit cannot be. */
const RAISE: Record<string, string> = {
  MAX_CHAIN_DEPTH: `set ${CHAIN_DEPTH_ENV} (up to 4096) to raise it`,
  VHD_MAX_BAT_ENTRIES: 'it cannot be raised; convert the image to larger blocks with another tool',
  VHDX_MAX_LOG_LENGTH: 'it cannot be raised; replay the log with Hyper-V (mount the disk once) first',
  NBD_MAX_CONNECTIONS: 'a library caller raises it with NbdServerOptions.maxConnections',
};

/** The clause an error adds when it hits limit `name` of `value`: which limit, and how to raise it (most cannot be: they match what qemu, VMware or VirtualBox accept, or bound memory). */
export function limitNote(name: string, value: number): string {
  return `vdisk limit ${name} = ${value}; ${RAISE[name] ?? 'it cannot be raised'}`;
}
