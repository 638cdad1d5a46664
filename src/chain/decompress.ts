import { decompress as zstdDecompress } from 'fzstd';
import { constants, inflateRawSync, inflateSync } from 'node:zlib';
import { DiskImageError } from '../errors.js';
import type { CompressedRun } from '../formats/layer.js';
import { zstdFrame } from '../util/zstd-frame.js';

/**
 * One Zstandard frame from the start of `stored` decoded into a buffer of
 * `unitLength` bytes: bytes after the frame are left alone, a frame whose
 * content size is not the unit's is refused, and output never grows past the
 * buffer (fzstd writes into the one it is given, allocating no window).
 */
function zstdUnit(stored: Uint8Array, unitLength: number): Uint8Array {
  const frame = zstdFrame(stored);
  if (typeof frame === 'string') throw new Error(frame);
  if (frame.contentSize !== undefined && frame.contentSize !== unitLength) throw new Error(`the frame holds ${frame.contentSize} bytes`);
  return zstdDecompress(stored.subarray(0, frame.end), new Uint8Array(unitLength));
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
