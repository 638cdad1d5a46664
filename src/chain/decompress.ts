import { Decompress } from 'fzstd';
import { constants, inflateRawSync, inflateSync } from 'node:zlib';
import { DiskImageError } from '../errors.js';
import type { CompressedRun } from '../formats/layer.js';
import { zstdFrame } from '../util/zstd-frame.js';
import { limitNote, MAX_ZSTD_WINDOW } from '../limits.js';


/**
 * One Zstandard frame from the start of `stored` decoded into one unit of
 * `unitLength` bytes: bytes after the frame are left alone, a frame whose
 * content size is not the unit's or whose window is past MAX_ZSTD_WINDOW is
 * refused, and decoding stops with an error as soon as a block would take
 * the output past the unit (fzstd's stream decoder hands over each block).
 */
export function zstdUnit(stored: Uint8Array, unitLength: number): Uint8Array {
  const frame = zstdFrame(stored);
  if (typeof frame === 'string') throw new Error(frame);
  if (frame.contentSize !== undefined && frame.contentSize !== unitLength) throw new Error(`the frame holds ${frame.contentSize} bytes`);
  if (frame.windowSize > MAX_ZSTD_WINDOW) throw new Error(`its ${frame.windowSize}-byte window is larger than ${MAX_ZSTD_WINDOW} bytes (${limitNote('MAX_ZSTD_WINDOW', MAX_ZSTD_WINDOW)})`);
  const unit = new Uint8Array(unitLength);
  let got = 0;
  const decoder = new Decompress((block) => {
    if (got + block.length > unitLength) throw new Error(`it holds more than ${unitLength} bytes`);
    unit.set(block, got);
    got += block.length;
  });
  decoder.push(stored.subarray(0, frame.end), true);
  return unit.subarray(0, got);
}

/**
 * Reads a compressed run: its stored bytes, decompressed into one unit (a
 * grain or a cluster), never past `unitLength` bytes, of which the run's part
 * is copied to `out`. A unit that does not decompress, or decompresses short,
 * is `CORRUPT`.
 */
export async function readCompressed(run: CompressedRun, out: Uint8Array): Promise<void> {
  const stored = new Uint8Array(run.storedLength);
  await run.source.read(stored, run.at);
  let unit: Uint8Array;
  try {
    const opts = { maxOutputLength: run.unitLength, finishFlush: constants.Z_SYNC_FLUSH };
    if (run.codec === 'zstd') unit = zstdUnit(stored, run.unitLength);
    else unit = run.codec === 'deflate' ? inflateRawSync(stored, opts) : inflateSync(stored, opts);
  } catch (err) {
    throw new DiskImageError('CORRUPT', `${run.source.path}: ${run.codec} data at ${run.at} (${run.storedLength} bytes) does not decompress: ${(err as Error).message}`, {
      path: run.source.path,
      offset: run.at,
      operation: 'decompress',
    });
  }
  if (unit.length < run.within + out.length) {
    throw new DiskImageError('CORRUPT', `${run.source.path}: ${run.codec} data at ${run.at} decompresses to ${unit.length} bytes, not ${run.unitLength}`, {
      path: run.source.path,
      offset: run.at,
      operation: 'decompress',
    });
  }
  out.set(unit.subarray(run.within, run.within + out.length));
}
