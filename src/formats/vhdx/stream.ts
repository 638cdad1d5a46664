import type { MemoryFile } from '../../io/memory-file.js';
import { blocksWithData } from '../../engine/scan.js';
import type { StreamPiece } from '../../engine/stream-plan.js';
import type { WritableDiskImage } from '../types.js';
import { encodeBatEntry, payloadEntryIndex } from './bat.js';
import { MiB, PayloadState } from './constants.js';
import type { VhdxImage } from './reader.js';

/**
 * A VHDX in output order, from an empty image of the same options built in
 * memory: identifier, headers, region tables, empty log, metadata and a BAT
 * that places, in order, every block holding a non-zero run (all blocks for a
 * fixed VHDX), then those blocks.
 */
export function vhdxStreamPlan(image: WritableDiskImage, file: MemoryFile, spans: { start: number; end: number }[]): StreamPiece[] {
  const { layout } = image as unknown as VhdxImage;
  const g = layout.bat.geometry;
  const bs = g.blockSize;
  const dataStart = layout.regions.bat.offset + layout.regions.bat.length;
  const prefix = file.bytes(0, dataStart);
  const fixed = layout.bat.states.every((s) => s === PayloadState.fullyPresent);
  const blocks = fixed ? Array.from({ length: g.payloadBlocks }, (_, b) => b) : blocksWithData(spans, bs);
  blocks.forEach((b, k) => prefix.set(encodeBatEntry(PayloadState.fullyPresent, (dataStart + k * bs) / MiB), layout.regions.bat.offset + payloadEntryIndex(g, b) * 8));
  const pieces: StreamPiece[] = [{ bytes: prefix }];
  for (const b of blocks) {
    const length = Math.min(bs, image.virtualSize - b * bs);
    pieces.push({ guest: { offset: b * bs, length }, zeroPad: bs - length });
  }
  return pieces;
}
