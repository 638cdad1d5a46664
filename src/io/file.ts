import { constants } from 'node:fs';
import { open, readFile, type FileHandle } from 'node:fs/promises';
import { DiskImageError, ioError } from '../errors.js';
import type { Range } from './byte-source.js';
import type { FileOpener, ImageFile, OpenMode } from './image-file.js';
import { DIRECT_ALIGN, isPageAligned } from './aligned-buffer.js';
import { fileHelper } from './native.js';
import { WritebackWindow } from './writeback-window.js';

const FLAGS: Record<OpenMode, string> = { read: 'r', write: 'r+', create: 'wx+' };

/**
 * How a writable file's data reaches the device. 'window' (the default for a
 * file vdisk creates): through the page cache with writeback started at once
 * and written pages dropped behind (WritebackWindow); 'direct': whole aligned
 * pages with O_DIRECT, the rest buffered; 'buffered': the page cache alone.
 */
export type WritePolicy = 'window' | 'direct' | 'buffered';

/**
 * Largest single pwrite. Linux (6.x, ext4 and tmpfs) sizes page-cache folios
 * by the write's length, so a 2 MiB write asks for 2 MiB folios; on a VM whose
 * host reclaims free guest memory those come from untouched memory, and 656 MB
 * of 2 MiB writes took 1.1-1.7 s of CPU after an idle pause instead of 0.14 s.
 * 512 KiB writes never paid it (0.21 s) and cost ~5 % on tmpfs (docs/bench.md).
 */
const WRITE_PIECE = 512 * 1024;

/**
 * Smallest read that may bypass the page cache (O_DIRECT). Image data is
 * read in chunks of up to 8 MiB; metadata reads are small and stay buffered.
 */
const DIRECT_READ_MIN = 1024 * 1024;

/** Smallest write the 'window' policy queues for writeback: data chunks, not metadata, which stays cached for the writer's next update. */
const WINDOWED_MIN = 64 * 1024;

/**
 * An open image file with positioned reads and writes (pread/pwrite), its
 * data/hole map, and an OFD lock on the whole file: shared when read-only,
 * exclusive when writable, so vdisk never changes an image another vdisk or
 * a qemu process has open (qemu holds OFD locks on its images). Writes
 * follow a WritePolicy (see `write`); large aligned reads of uncached ranges
 * bypass the page cache (see `readSome`). All errors become `IO`
 * DiskImageErrors naming the path.
 */
export class DiskFile implements ImageFile {
  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
    private length: number,
    readonly writable: boolean,
    private direct: FileHandle | undefined,
    private directRead: FileHandle | undefined,
    private readonly window: WritebackWindow | undefined,
  ) {}

  /**
   * Opens `path`; `create` makes a new file and refuses to overwrite.
   * `writes` is how a writable file is written (default: 'window' for
   * `create`, 'buffered' otherwise); where the system lacks what a policy
   * needs, writes are buffered.
   */
  static async open(path: string, mode: OpenMode = 'read', writes: WritePolicy = mode === 'create' ? 'window' : 'buffered'): Promise<DiskFile> {
    let handle: FileHandle;
    try {
      handle = await open(path, FLAGS[mode]);
    } catch (err) {
      throw ioError(err, path, mode === 'create' ? 'create' : 'open');
    }
    const st = await handle.stat({ bigint: true });
    if (st.isDirectory()) {
      await handle.close();
      throw new DiskImageError('IO', `cannot open ${path}: is a directory`, { path });
    }
    try {
      fileHelper.lock(handle.fd, mode === 'read' ? 1 : 2);
    } catch (err) {
      await handle.close();
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw ioError(err, path, 'lock');
      const what = mode === 'read' ? 'is being changed by another process' : 'is in use by another process (qemu or vdisk)';
      throw new DiskImageError('IO', `${path} ${what}; refusing to ${mode === 'read' ? 'read' : 'change'} it`, { path });
    }
    let size = Number(st.size);
    if (st.isBlockDevice()) size = await blockDeviceSize(path, st.rdev).catch(async (err: unknown) => {
      await handle.close();
      throw err;
    });
    // O_DIRECT is Linux's (undefined elsewhere in Node's constants), and only the native helper can tell a buffer's alignment.
    const canDirect = constants.O_DIRECT && fileHelper.kind === 'native';
    const writable = mode !== 'read';
    const directHandle = writable && writes === 'direct' && canDirect ? await open(path, constants.O_RDWR | constants.O_DIRECT).catch(() => undefined) : undefined;
    const directRead = !writable && canDirect ? await open(path, constants.O_RDONLY | constants.O_DIRECT).catch(() => undefined) : undefined;
    const window = writable && writes === 'window' ? WritebackWindow.for(handle.fd, () => handle.datasync()) : undefined;
    return new DiskFile(path, handle, size, writable, directHandle, directRead, window);
  }

  /** The file descriptor, for the native helper. */
  get fd(): number {
    return this.handle.fd;
  }

  /** Current size in bytes (tracked across our own writes). */
  get size(): number {
    return this.length;
  }

  /**
   * Reads up to buf.length bytes at `offset`; returns how many were read
   * (short only at end of file). A large page-aligned read of a range that is
   * mostly not in the page cache goes to the device directly (readDirect).
   */
  async readSome(buf: Uint8Array, offset: number): Promise<number> {
    let done = 0;
    try {
      if (this.directRead && buf.length >= DIRECT_READ_MIN && offset % DIRECT_ALIGN === 0 && isPageAligned(buf) && this.mostlyUncached(offset, buf.length)) {
        done = await this.readDirect(buf, offset);
      }
      while (done < buf.length) {
        const { bytesRead } = await this.handle.read(buf, done, buf.length - done, offset + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
    } catch (err) {
      throw ioError(err, this.path, 'read');
    }
    return done;
  }

  /** Reads exactly buf.length bytes at `offset`; a short read is `CORRUPT` (the structure runs past the end). */
  async read(buf: Uint8Array, offset: number): Promise<void> {
    const n = await this.readSome(buf, offset);
    if (n !== buf.length) {
      throw new DiskImageError('CORRUPT', `${this.path}: read of ${buf.length} bytes at ${offset} ran past the end of the file (${this.length} bytes)`, {
        path: this.path,
        offset,
        length: buf.length,
        fileSize: this.length,
      });
    }
  }

  /**
   * Writes all of buf at `offset`. Under the 'direct' policy the whole pages
   * of a page-aligned buffer at a page-aligned offset go straight to the
   * device (O_DIRECT). The rest goes through the page cache in pieces of at
   * most WRITE_PIECE bytes; under the 'window' policy a write of at least
   * WINDOWED_MIN bytes is then queued for writeback and later dropped from
   * the cache (WritebackWindow), so a conversion's output neither floods
   * the cache nor waits for the device at the end (docs/bench.md).
   */
  async write(buf: Uint8Array, offset: number): Promise<void> {
    try {
      let done = this.direct && offset % DIRECT_ALIGN === 0 && buf.length >= DIRECT_ALIGN && isPageAligned(buf) ? await this.writeDirect(buf, offset) : 0;
      while (done < buf.length) {
        const { bytesWritten } = await this.handle.write(buf, done, Math.min(WRITE_PIECE, buf.length - done), offset + done);
        done += bytesWritten;
      }
      if (this.window && buf.length >= WINDOWED_MIN) await this.window.written({ offset, length: buf.length });
    } catch (err) {
      throw ioError(err, this.path, 'write');
    }
    this.length = Math.max(this.length, offset + buf.length);
  }

  /**
   * True when less than a quarter of the range is in the page cache
   * (cachestat): reading it with O_DIRECT then costs the device what a
   * buffered read would, without copying through the cache (measured: cold
   * 2 MiB direct reads 0.37 s, buffered 0.47-0.55 s for 625 MB; docs/bench.md).
   * A cached range is read from the cache. Unknown (before Linux 6.5): false.
   */
  private mostlyUncached(offset: number, length: number): boolean {
    const cached = fileHelper.cachedBytes(this.fd, offset, length);
    return cached >= 0 && cached < length / 4;
  }

  /** Writes the whole pages of buf through the O_DIRECT descriptor; returns how many bytes it wrote. */
  private writeDirect(buf: Uint8Array, offset: number): Promise<number> {
    return this.transferDirect(buf, async (at, length) => (await this.direct!.write(buf, at, length, offset + at)).bytesWritten);
  }

  /** Reads the whole pages of buf through the O_DIRECT descriptor; returns how many bytes it read (fewer at the end of the file). */
  private readDirect(buf: Uint8Array, offset: number): Promise<number> {
    return this.transferDirect(buf, async (at, length) => (await this.directRead!.read(buf, at, length, offset + at)).bytesRead);
  }

  /**
   * Moves the whole pages of buf with `step(at, length)` (bytes moved, 0 at
   * the end of the file) until done or a short transfer leaves them
   * unaligned; returns the bytes moved. A file system that refuses O_DIRECT
   * (EINVAL on the first transfer) gets buffered transfers from then on.
   */
  private async transferDirect(buf: Uint8Array, step: (at: number, length: number) => Promise<number>): Promise<number> {
    const pages = buf.length - (buf.length % DIRECT_ALIGN);
    let done = 0;
    try {
      while (done < pages && done % DIRECT_ALIGN === 0) {
        const n = await step(done, pages - done);
        if (n === 0) break;
        done += n;
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EINVAL' || done > 0) throw err;
      await this.closeDirect();
    }
    return done;
  }

  /** Closes the O_DIRECT descriptors (later transfers are buffered). */
  private async closeDirect(): Promise<void> {
    const handles = [this.direct, this.directRead];
    this.direct = undefined;
    this.directRead = undefined;
    for (const h of handles) await h?.close().catch(() => undefined);
  }

  /** Sets the file size (sparse when growing). */
  async truncate(size: number): Promise<void> {
    try {
      await this.handle.truncate(size);
    } catch (err) {
      throw ioError(err, this.path, 'resize');
    }
    this.length = size;
  }

  /** Flushes data and metadata to stable storage (fsync). */
  async sync(): Promise<void> {
    try {
      await this.window?.drain();
      await this.handle.sync();
    } catch (err) {
      throw ioError(err, this.path, 'flush');
    }
  }

  /**
   * Makes a range allocated on disk: fallocate where the native helper and the
   * file system can, else by reading each piece and writing it back (data kept).
   */
  async allocate(offset: number, length: number): Promise<void> {
    if (this.rangeCall(fileHelper.allocate, offset, length, 'allocate space in')) {
      this.length = Math.max(this.length, offset + length);
      return;
    }
    const buf = new Uint8Array(8 * 1024 * 1024);
    for (let p = offset; p < offset + length; p += buf.length) {
      const piece = buf.subarray(0, Math.min(buf.length, offset + length - p));
      const n = await this.readSome(piece, p);
      piece.fill(0, n);
      await this.write(piece, p);
    }
  }

  /** Makes a range read as zeros, keeping it allocated (fallocate ZERO_RANGE); false without the native helper or file system support. */
  async zeroRange(offset: number, length: number): Promise<boolean> {
    return this.rangeCall(fileHelper.zeroRange, offset, length, 'zero a range of');
  }

  /** Deallocates a range keeping the file size (fallocate PUNCH_HOLE); false without the native helper or file system support. */
  async punchHole(offset: number, length: number): Promise<boolean> {
    return this.rangeCall(fileHelper.punchHole, offset, length, 'punch a hole in');
  }

  /** Runs a helper call on a range (nothing for an empty one); errors become IO errors naming `action`. */
  private rangeCall(call: (fd: number, offset: number, length: number) => boolean, offset: number, length: number, action: string): boolean {
    if (length <= 0) return true;
    try {
      return call(this.fd, offset, length);
    } catch (err) {
      throw ioError(err, this.path, action);
    }
  }

  /** The data ranges of [offset, offset+length) by SEEK_DATA/SEEK_HOLE (all data without the native helper). */
  async dataRanges(offset: number, length: number): Promise<Range[]> {
    const end = Math.min(offset + length, this.length);
    const out: Range[] = [];
    let pos = offset;
    while (pos < end) {
      const data = fileHelper.seekData(this.fd, pos, this.length);
      if (data < 0 || data >= end) break;
      const hole = Math.min(fileHelper.seekHole(this.fd, data, this.length), end);
      out.push({ offset: data, length: hole - data });
      pos = hole;
    }
    return out;
  }

  /** Closes the file; safe to call twice. */
  async close(): Promise<void> {
    await this.window?.drain().catch(() => undefined);
    await this.closeDirect();
    try {
      await this.handle.close();
    } catch {
      // Already closed: nothing to release.
    }
  }
}

/** The default FileOpener: DiskFile with its locks. */
export const openDiskFile: FileOpener = (path, mode) => DiskFile.open(path, mode);

/** A FileOpener that writes the files it opens for writing with O_DIRECT where aligned (`commit` into a base, `convert -t none`). */
export const openDirectDiskFile: FileOpener = (path, mode) => DiskFile.open(path, mode, mode === 'read' ? undefined : 'direct');

/**
 * The size of a block device: fstat reports 0 for one, so read the kernel's
 * count of 512-byte sectors from /sys/dev/block/MAJOR:MINOR/size.
 */
async function blockDeviceSize(path: string, rdev: bigint): Promise<number> {
  const major = ((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn);
  const minor = (rdev & 0xffn) | ((rdev >> 12n) & ~0xffn);
  try {
    return Number(await readFile(`/sys/dev/block/${major}:${minor}/size`, 'utf8')) * 512;
  } catch (err) {
    throw ioError(err, path, 'find the size of block device');
  }
}
