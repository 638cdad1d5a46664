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
}

interface Addon {
  seekData(fd: number, off: number): number;
  seekHole(fd: number, off: number): number;
  ofdLock(fd: number, mode: number): number;
  allocate(fd: number, off: number, len: number): number;
  punchHole?(fd: number, off: number, len: number): number;
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

function nativeHelper(addon: Addon): FileHelper {
  return {
    kind: 'native',
    seekData: (fd, offset) => addon.seekData(fd, offset),
    seekHole: (fd, offset) => addon.seekHole(fd, offset),
    lock: (fd, mode) => void addon.ofdLock(fd, mode),
    allocate(fd, offset, length) {
      try {
        addon.allocate(fd, offset, length);
        return true;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EOPNOTSUPP') return false;
        throw err;
      }
    },
    punchHole(fd, offset, length) {
      if (!addon.punchHole) return false;
      try {
        addon.punchHole(fd, offset, length);
        return true;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EOPNOTSUPP' || code === 'ENOSYS') return false;
        throw err;
      }
    },
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
};

const addon = loadAddon();

/** The helper in use for this process. */
export const fileHelper: FileHelper = addon ? nativeHelper(addon) : jsHelper;
