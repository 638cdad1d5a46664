import { DiskImageError } from '../errors.js';
import type { DiskImage } from '../formats/types.js';
import { DiskType, FOOTER_SIZE, MAX_VIRTUAL_SIZE } from '../formats/vhd/constants.js';
import { encodeFooter } from '../formats/vhd/footer.js';
import { newFooter } from '../formats/vhd/new-footer.js';
import { roundUp } from '../util/checked.js';
import { randomUuid } from '../util/uuid.js';

/** Where the output goes: positioned writes into a file that starts empty (an OPFS sync access handle in the worker). */
export interface OutputFile {
  write(buf: Uint8Array, offset: number): void;
  truncate(size: number): void;
}

/** Largest piece of guest data read and written at once. */
const PIECE = 4 * 1024 * 1024;

/**
 * Writes the guest view of `image` as a fixed VHD (what `vdisk convert
 * --target azure` writes): the virtual size rounded up to `sizeMultiple`, the
 * data, then the footer vdisk writes for a new image. Only the extents that
 * hold data are read and written; the rest of the file is left to read as
 * zeros after the first truncate. `onProgress` gets the guest offset reached
 * and the total. Returns the file's size. Cancelling is stopping the worker.
 */
export async function writeFixedVhd(image: DiskImage, out: OutputFile, sizeMultiple: number, onProgress: (done: number, total: number) => void): Promise<number> {
  const size = roundUp(image.virtualSize, sizeMultiple);
  if (size > MAX_VIRTUAL_SIZE) throw new DiskImageError('OUT_OF_RANGE', `a VHD holds at most 2040 GiB, not ${size} bytes`, { value: size, limit: MAX_VIRTUAL_SIZE });
  out.truncate(size + FOOTER_SIZE);
  const buf = new Uint8Array(PIECE);
  for await (const e of image.extents()) {
    if (e.kind !== 'data') continue;
    for (let at = e.offset; at < e.offset + e.length; at += PIECE) {
      const piece = buf.subarray(0, Math.min(PIECE, e.offset + e.length - at));
      await image.readAt(piece, at);
      out.write(piece, at);
      onProgress(at + piece.length, image.virtualSize);
    }
  }
  out.write(encodeFooter(newFooter(size, DiskType.fixed, randomUuid())), size);
  onProgress(image.virtualSize, image.virtualSize);
  return size + FOOTER_SIZE;
}
