import { DiskImageError } from '../errors.js';
import type { ByteSource } from './byte-source.js';
import type { ImageFile } from './image-file.js';

/**
 * A byte source (a URL, a Blob) as an image file that formats can read like
 * any other; writing to it is a `USAGE` error naming it. Without a data map
 * of its own, all of it counts as data.
 */
export function readOnlyFile(source: ByteSource): ImageFile {
  const refuse = (): never => {
    throw new DiskImageError('USAGE', `${source.path} is read-only (not a local file)`, { path: source.path, operation: 'write' });
  };
  return {
    path: source.path,
    get size() {
      return source.size;
    },
    read: (buf, offset) => source.read(buf, offset),
    write: async () => refuse(),
    truncate: async () => refuse(),
    sync: async () => undefined,
    dataRanges: async (offset, length) => (source.dataRanges ? source.dataRanges(offset, length) : [{ offset, length: Math.max(0, Math.min(length, source.size - offset)) }]),
    close: () => source.close(),
  };
}
