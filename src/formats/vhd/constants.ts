/**
 * Constants of the Microsoft Virtual Hard Disk Image Format Specification,
 * version 1.0 (October 2006). Section numbers refer to that document.
 */

/** Sector size: every VHD offset and size is in 512-byte units (Appendix A). */
export const SECTOR = 512;

/** Hard disk footer cookie, "conectix" (Appendix A, "Cookie"). */
export const FOOTER_COOKIE = 'conectix';

/** Dynamic disk header cookie, "cxsparse" (Appendix A, "Dynamic Disk Header Format"). */
export const HEADER_COOKIE = 'cxsparse';

/** Size of the hard disk footer (Appendix A). */
export const FOOTER_SIZE = 512;

/** Size of the dynamic disk header (Appendix A, "Dynamic Disk Header Format"). */
export const HEADER_SIZE = 1024;

/** Features field: the "reserved" bit that must always be set (Appendix A, "Features"). */
export const FEATURE_RESERVED = 0x00000002;

/** Features field: a temporary disk, candidate for deletion on shutdown (Appendix A, "Features"). */
export const FEATURE_TEMPORARY = 0x00000001;

/** File format version 1.0 (Appendix A, "File Format Version"). */
export const FORMAT_VERSION = 0x00010000;

/** Dynamic header version 1.0 (Appendix A, "Header Version"). */
export const HEADER_VERSION = 0x00010000;

/** Data offset of a fixed disk: no dynamic header (Appendix A, "Data Offset"). */
export const NO_DATA_OFFSET = 0xffffffffffffffffn;

/** Seconds between 1970-01-01 and 2000-01-01 00:00:00 UTC, the VHD epoch (Appendix A, "Time Stamp"). */
export const VHD_EPOCH = 946684800;

/** Disk types (Appendix A, "Disk Type"). */
export const DiskType = { none: 0, fixed: 2, dynamic: 3, differencing: 4 } as const;

/** BAT entry of a block with no data in this file (Appendix A, "Block Allocation Table"). */
export const BAT_UNUSED = 0xffffffff;

/** Default block size, 2 MiB (Appendix A, "Block Size"). */
export const DEFAULT_BLOCK_SIZE = 0x00200000;

/**
 * Largest virtual size: 2040 GiB. The spec's 32-bit sector BAT entries allow
 * more, but Hyper-V and qemu (VHD_MAX_SECTORS) both stop at 2040 GiB
 * ("About VHD", Microsoft Docs).
 */
export const MAX_VIRTUAL_SIZE = 2040 * 1024 ** 3;

/** Largest CHS geometry, 65535 cylinders x 16 heads x 255 sectors (Appendix A, "Disk Geometry"). */
export const MAX_CHS_SECTORS = 65535 * 16 * 255;

/** Creator host OS codes (Appendix A, "Creator Host OS"). */
export const HostOs = { windows: 0x5769326b, macintosh: 0x4d616320 } as const;

/** Parent locator platform codes (Appendix A, "Parent Locator Entries"). */
export const PlatformCode = {
  none: 0,
  /** Wi2r: deprecated relative path (ANSI). */
  wi2r: 0x57693272,
  /** Wi2k: deprecated absolute path (ANSI). */
  wi2k: 0x5769326b,
  /** W2ru: relative path, UTF-16LE. */
  w2ru: 0x57327275,
  /** W2ku: absolute path, UTF-16LE. */
  w2ku: 0x57326b75,
  /** Mac: Mac OS alias blob. */
  mac: 0x4d616320,
  /** MacX: file URL, UTF-8. */
  macx: 0x4d616358,
} as const;

/** Number of parent locator entries in the dynamic header (Appendix A). */
export const LOCATOR_COUNT = 8;

/**
 * Creator application vdisk writes: "win " with version 10.0 and host "Wi2k",
 * as Hyper-V does. Every reader (qemu 7.2 and 10, libvhdi, Hyper-V, Azure)
 * sizes "win " images by the footer's current size; see docs/formats/vhd.md.
 */
export const WRITER_CREATOR = { app: 'win ', version: 0x000a0000, hostOs: HostOs.windows } as const;

