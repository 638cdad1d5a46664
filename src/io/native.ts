import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

/** The Linux calls Node 20's fs lacks; see native/vdisk_native.c and docs/native-helper.md. */
export interface FileHelper {
  /** 'native' when the addon loaded, 'js' for the portable fallback. */
  readonly kind: 'native' | 'js';
  /** Next data offset at or after `offset`, or -1 when only a hole follows. */
  seekData(fd: number, offset: number, fileSize: number): number;
  /** Next hole offset at or after `offset` (the file end counts as a hole). */
  seekHole(fd: number, offset: number, fileSize: number): number;
  /** Reserves blocks for a range (fallocate); false when the file system or helper cannot. */
  allocate(fd: number, offset: number, length: number): boolean;
  /** Takes (mode 1 shared, 2 exclusive) or drops (0) an OFD lock on the whole file; throws EAGAIN if held. */
  lock(fd: number, mode: 0 | 1 | 2): void;
  /** Deallocates a range, keeping the file size (fallocate PUNCH_HOLE|KEEP_SIZE); false when the file system or helper cannot. */
  punchHole(fd: number, offset: number, length: number): boolean;
  /** Makes a range read as zeros, keeping it allocated and the size (fallocate ZERO_RANGE|KEEP_SIZE; block devices too); false when unsupported. */
  zeroRange(fd: number, offset: number, length: number): boolean;
  /** Where buf's first byte lies within its 4 KiB memory page (0 = aligned for O_DIRECT); -1 when unknown. */
  pageOffset(buf: Uint8Array): number;
  /** Bytes of a file range in the page cache (cachestat, Linux 6.5+); -1 when the system cannot tell. */
  cachedBytes(fd: number, offset: number, length: number): number;
  /** True when `startWriteback` can queue writeback (the native helper on Linux). */
  readonly canStartWriteback: boolean;
  /** Queues a range's dirty pages for writing to the device, in the thread pool, without waiting for the device (sync_file_range WRITE); resolves false when it could not. */
  startWriteback(fd: number, offset: number, length: number): Promise<boolean>;
  /** Drops a range's clean pages from the page cache (posix_fadvise DONTNEED), in the thread pool; a hint, so failures are ignored. */
  dropCache(fd: number, offset: number, length: number): Promise<void>;
}

interface Addon {
  seekData(fd: number, off: number): number;
  seekHole(fd: number, off: number): number;
  ofdLock(fd: number, mode: number): number;
  allocate(fd: number, off: number, len: number): number;
  punchHole?(fd: number, off: number, len: number): number;
  zeroRange?(fd: number, off: number, len: number): number;
  pageOffset?(buf: Uint8Array): number;
  cachedBytes?(fd: number, off: number, len: number): number;
  startWriteback?(fd: number, off: number, len: number): Promise<void>;
  dropCache?(fd: number, off: number, len: number): Promise<void>;
}

/** Runs an optional fallocate-style call: false when the addon lacks it or the file system does not support it. */
function optionalCall(call: ((fd: number, off: number, len: number) => number) | undefined, fd: number, offset: number, length: number): boolean {
  if (!call) return false;
  try {
    call(fd, offset, length);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EOPNOTSUPP' || code === 'ENOSYS') return false;
    throw err;
  }
}

/** Runs an lseek SEEK_DATA/SEEK_HOLE; where the file type has no such seek (EINVAL: block devices), every byte is data. */
function seekOr(seek: () => number, allData: number): number {
  try {
    return seek();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EINVAL') return allData;
    throw err;
  }
}

function loadAddon(): Addon | undefined {
  if (process.env.VDISK_NO_NATIVE === '1') return undefined;
  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
  try {
    return createRequire(import.meta.url)(join(root, 'build', 'Release', 'vdisk_native.node')) as Addon;
  } catch {
    return undefined;
  }
}

/** cachestat through the addon; -1 when the addon or the kernel (before 6.5: ENOSYS) lacks it, or the file type has no page cache. */
function cachedOrUnknown(addon: Addon, fd: number, offset: number, length: number): number {
  if (!addon.cachedBytes) return -1;
  try {
    return addon.cachedBytes(fd, offset, length);
  } catch {
    return -1;
  }
}

function nativeHelper(addon: Addon): FileHelper {
  return {
    kind: 'native',
    seekData: (fd, offset, size) => seekOr(() => addon.seekData(fd, offset), offset < size ? offset : -1),
    seekHole: (fd, offset, size) => seekOr(() => addon.seekHole(fd, offset), size),
    lock: (fd, mode) => void addon.ofdLock(fd, mode),
    allocate: (fd, offset, length) => optionalCall(addon.allocate, fd, offset, length),
    punchHole: (fd, offset, length) => optionalCall(addon.punchHole, fd, offset, length),
    zeroRange: (fd, offset, length) => optionalCall(addon.zeroRange, fd, offset, length),
    pageOffset: (buf) => (addon.pageOffset ? addon.pageOffset(buf) : -1),
    cachedBytes: (fd, offset, length) => cachedOrUnknown(addon, fd, offset, length),
    canStartWriteback: addon.startWriteback !== undefined,
    startWriteback: async (fd, offset, length) => (addon.startWriteback ? addon.startWriteback(fd, offset, length).then(() => true, () => false) : false),
    dropCache: async (fd, offset, length) => addon.dropCache?.(fd, offset, length).catch(() => undefined),
  };
}

/** Fallback: every byte is data (callers then detect zeros themselves), no locks. */
const jsHelper: FileHelper = {
  kind: 'js',
  seekData: (_fd, offset, size) => (offset < size ? offset : -1),
  seekHole: (_fd, _offset, size) => size,
  lock: () => undefined,
  allocate: () => false,
  punchHole: () => false,
  zeroRange: () => false,
  pageOffset: () => -1,
  cachedBytes: () => -1,
  canStartWriteback: false,
  startWriteback: async () => false,
  dropCache: async () => undefined,
};

const addon = loadAddon();

/** The helper in use for this process. */
export const fileHelper: FileHelper = addon ? nativeHelper(addon) : jsHelper;
