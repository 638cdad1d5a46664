/**
 * Dropping a source from the page cache before a timed run, so that the run
 * reads it from the device as a real conversion of a disk that was not just
 * written or read does (issue 21).
 */
import { runChecked, shellJoin } from './timing.js';

/** Most bytes of a file that may stay cached after a drop (a few pages the kernel keeps for its own reasons). */
const RESIDENT_SLACK = 1024 * 1024;

/**
 * Drops `path` from the page cache: GNU dd's `iflag=nocache count=0` asks
 * the kernel (posix_fadvise POSIX_FADV_DONTNEED) to drop the whole file's
 * clean pages; the file was synced before, so all its pages are clean. Then
 * util-linux `fincore` must report it gone, or the run would not be cold.
 */
export function dropFromCache(path: string): void {
  runChecked(shellJoin(['dd', `if=${path}`, 'iflag=nocache', 'count=0', 'status=none']));
  const resident = residentBytes(path);
  if (resident > RESIDENT_SLACK) throw new Error(`bench: ${path} still has ${resident} bytes in the page cache after dropping it`);
}

/** Bytes of `path` in the page cache (util-linux fincore). */
export function residentBytes(path: string): number {
  const out = runChecked(shellJoin(['fincore', '--bytes', '--noheadings', '--output', 'RES', path])).trim();
  const bytes = Number(out);
  if (!Number.isInteger(bytes)) throw new Error(`bench: fincore said '${out}' for ${path}`);
  return bytes;
}
