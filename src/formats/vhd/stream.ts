import type { MemoryFile } from '../../io/memory-file.js';
import { blocksWithData } from '../../engine/scan.js';
import type { StreamPiece } from '../../engine/stream-plan.js';
import type { WritableDiskImage } from '../types.js';
import { ZERO_MIB } from '../../util/zero.js';
import { appendedBlockOffset, bitmapBytes } from './bat.js';
import { FOOTER_SIZE, SECTOR } from './constants.js';
import type { VhdImage } from './reader.js';

/**
 * A VHD in output order, from an empty image of the same options built in
 * memory: fixed = the guest data, then the footer; dynamic = footer copy,
 * header and a BAT that allocates, in order, every block holding a non-zero
 * run, then each such block (zero padding so its data is 4 KiB aligned,
 * all-ones bitmap, data), then the footer.
 */
export function vhdStreamPlan(image: WritableDiskImage, file: MemoryFile, spans: { start: number; end: number }[]): StreamPiece[] {
  const { layout } = image as unknown as VhdImage;
  const footer = file.bytes(file.size - FOOTER_SIZE, FOOTER_SIZE);
  if (!layout.header) return [{ guest: { offset: 0, length: image.virtualSize } }, { bytes: footer }];
  const bs = layout.header.blockSize;
  const dataStart = file.size - FOOTER_SIZE;
  const prefix = file.bytes(0, dataStart);
  const view = new DataView(prefix.buffer);
  const bitmap = new Uint8Array(bitmapBytes(bs)).fill(0xff);
  // The prefix holds the BAT: its entries are filled in below, before anything is emitted.
  const pieces: StreamPiece[] = [{ bytes: prefix }];
  let pos = dataStart;
  blocksWithData(spans, bs).forEach((b, k) => {
    const at = appendedBlockOffset(dataStart, bs, k);
    view.setUint32(layout.header!.tableOffset + b * 4, at / SECTOR);
    const length = Math.min(bs, image.virtualSize - b * bs);
    pieces.push({ bytes: ZERO_MIB.subarray(0, at - pos) }, { bytes: bitmap }, { guest: { offset: b * bs, length }, zeroPad: bs - length });
    pos = at + bitmap.length + bs;
  });
  pieces.push({ bytes: footer });
  return pieces;
}
