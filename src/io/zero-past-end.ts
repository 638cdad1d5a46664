import type { ByteSource } from './byte-source.js';
import type { ImageFile } from './image-file.js';

/**
 * A file being grown by a writer, as a source whose bytes past the current
 * end read as zeros: a block allocated since the last flush may lie past the
 * end (nothing written there yet), and reads as zeros, as it will once the
 * file grows over it. `reach`, when given, is how far the writer has
 * allocated: the source is at least that large.
 */
export function zeroPastEnd(file: ImageFile, reach?: () => number): ByteSource {
  return {
    path: file.path,
    get size() {
      return Math.max(file.size, reach?.() ?? 0);
    },
    async read(buf, offset) {
      const inFile = Math.max(0, Math.min(buf.length, file.size - offset));
      if (inFile > 0) await file.read(buf.subarray(0, inFile), offset);
      buf.fill(0, inFile);
    },
    dataRanges: (offset, length) => file.dataRanges(offset, length),
    close: () => file.close(),
  };
}
