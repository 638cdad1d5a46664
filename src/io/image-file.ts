import type { ByteSource, Range } from './byte-source.js';

/**
 * The file interface formats read and write through. The default is
 * DiskFile (pread/pwrite with OFD locks); tests substitute a recording layer
 * to replay power cuts (test/helpers/fault-file.ts).
 */

/** How to open a file: read-only (shared lock), read-write (exclusive lock), or create a new one. */
export type OpenMode = 'read' | 'write' | 'create';

/** An open image file: a byte source that can also be written. */
export interface ImageFile extends ByteSource {
  /** Current size in bytes, tracked across this handle's own writes. */
  readonly size: number;
  /** Writes all of buf at `offset`. */
  write(buf: Uint8Array, offset: number): Promise<void>;
  /** Sets the file size (sparse when growing). */
  truncate(size: number): Promise<void>;
  /** Makes every write so far durable (fsync). */
  sync(): Promise<void>;
  /** Data runs of [offset, offset+length) (SEEK_DATA/SEEK_HOLE; all data when unknown). */
  dataRanges(offset: number, length: number): Promise<Range[]>;
  /** Makes [offset, offset+length) allocated on disk, not sparse (preallocation=full); keeps existing data. */
  allocate?(offset: number, length: number): Promise<void>;
  /**
   * Deallocates [offset, offset+length) keeping the file size, so the range
   * reads as zeros and takes no space (fallocate PUNCH_HOLE). Resolves false,
   * changing nothing, when the helper or the file system cannot; callers then
   * write zeros themselves.
   */
  punchHole?(offset: number, length: number): Promise<boolean>;
  /**
   * Makes [offset, offset+length) read as zeros without writing them, keeping
   * it allocated (fallocate ZERO_RANGE; regular files and block devices).
   * Resolves false, changing nothing, when that is not possible.
   */
  zeroRange?(offset: number, length: number): Promise<boolean>;
}

/** Opens files for formats; `OpenOptions.openFile` replaces the default. */
export type FileOpener = (path: string, mode: OpenMode) => Promise<ImageFile>;
