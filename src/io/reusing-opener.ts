import type { FileOpener, ImageFile } from './image-file.js';

/**
 * An opener that hands back `file` (already open) the first time `path` is
 * opened, and opens everything else through `openFile`. A format's `create`
 * uses it to open the image it just made for writing with the handle that
 * made it: a new file keeps the way new files are written (a writeback
 * window, io/file.ts) instead of being reopened as an existing one.
 */
export function reusingOpener(file: ImageFile, path: string, openFile: FileOpener): FileOpener {
  let handed = false;
  return (p, mode) => {
    if (handed || p !== path) return openFile(p, mode);
    handed = true;
    return Promise.resolve(file);
  };
}
