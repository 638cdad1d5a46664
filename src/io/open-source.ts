import { DiskImageError } from '../errors.js';
import { openDiskFile } from './file.js';
import { HttpSource, isUrl } from './http-source.js';
import type { ImageFile, OpenMode } from './image-file.js';
import { readOnlyFile } from './read-only-file.js';

/**
 * The default opener: a local path opens as a DiskFile (with its lock), an
 * http(s) URL as a read-only HTTP Range source. Writing to a URL is refused
 * with `USAGE` before anything is sent.
 */
export async function openSource(path: string, mode: OpenMode): Promise<ImageFile> {
  if (!isUrl(path)) return openDiskFile(path, mode);
  if (mode !== 'read') requireLocal(path, mode === 'create' ? 'creating an image' : 'writing');
  return readOnlyFile(await HttpSource.open(path));
}

/** Refuses a URL where an operation changes the image in place (`action`: "resizing", ...) with `USAGE`. */
export function requireLocal(path: string, action: string): void {
  if (isUrl(path)) throw new DiskImageError('USAGE', `${path}: a URL can only be read; ${action} needs a local file`, { path, operation: action });
}
