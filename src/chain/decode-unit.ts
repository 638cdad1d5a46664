import { Decompress } from 'fzstd';
import { DiskImageError } from '../errors.js';
import type { CompressedRun } from '../formats/layer.js';
import { zstdFrame } from '../util/zstd-frame.js';
import { limitNote, MAX_ZSTD_WINDOW } from '../limits.js';
import type { DecodeCompressed } from './chain-image.js';

/**
 * One Zstandard frame from the start of `stored` decoded into one unit of
 * `unitLength` bytes: bytes after the frame are left alone, a frame whose
 * content size is not the unit's or whose window is past MAX_ZSTD_WINDOW is
 * refused, and decoding stops with an error as soon as a block would take
 * the output past the unit (fzstd's stream decoder hands over each block).
 * Pure JavaScript: the CLI and the browser build share it.
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
 * Inflates one deflate unit: raw deflate (`deflate`, RFC 1951) or zlib
 * (`zlib`, RFC 1950), at most `unitLength` bytes of output. Bytes after the
 * end of the stream, and a stream cut short, are not errors: what it yields
 * is checked against the unit's length by the caller.
 */
export type InflateUnit = (codec: 'deflate' | 'zlib', stored: Uint8Array<ArrayBuffer>, unitLength: number) => Uint8Array | Promise<Uint8Array>;

/**
 * The reader of compressed runs over an inflater (node:zlib in the CLI,
 * DecompressionStream in the browser) and zstdUnit: a run's stored bytes are
 * read, decompressed into one unit (a grain or a cluster), never past
 * `unitLength` bytes, and the run's part copied to `out`. A unit that does
 * not decompress, or decompresses short, is `CORRUPT`.
 */
export function compressedReader(inflate: InflateUnit): DecodeCompressed {
  return async (run: CompressedRun, out: Uint8Array): Promise<void> => {
    const stored = new Uint8Array(run.storedLength);
    await run.source.read(stored, run.at);
    let unit: Uint8Array;
    try {
      unit = run.codec === 'zstd' ? zstdUnit(stored, run.unitLength) : await inflate(run.codec, stored, run.unitLength);
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
  };
}
