import { compressedReader } from '../chain/decode-unit.js';
import type { DecodeCompressed } from '../chain/chain-image.js';

/** The size of the pieces a browser's DecompressionStream hands out is its own; vdisk keeps reads waiting for pieces of this size (Chromium's are 16 KiB). */
const MIN_PIECE = 16 * 1024;

/** Stored bytes are written this many at a time, so that a stream that inflates far past its unit (deflate reaches 1032:1) is stopped within about 4 MiB. */
const WRITE_PIECE = 4096;

/**
 * Inflates one unit with the browser's DecompressionStream ('deflate-raw' for
 * a qcow2 cluster, 'deflate' for a VMDK grain's zlib stream), at most
 * `unitLength` bytes. A stored cluster is followed by whatever the sectors
 * it ends in hold: the stream then errors ("junk after the end") once it has
 * handed out the unit, and an error clears the pieces still queued. So
 * enough reads for the whole unit wait from the start, each answered read
 * asks for another, and each piece goes straight to a waiting read; what
 * arrived before an error counts, and the caller checks its length. Writes
 * are not waited for once reading has stopped (a stream past its unit would
 * hold them back for ever); reading stops at the end of the stream, at an
 * error (a stream cut short fails when closed), or past the unit.
 */
async function inflateUnit(codec: 'deflate' | 'zlib', stored: Uint8Array<ArrayBuffer>, unitLength: number): Promise<Uint8Array> {
  const stream = new DecompressionStream(codec === 'deflate' ? 'deflate-raw' : 'deflate');
  const reader = stream.readable.getReader();
  const writer = stream.writable.getWriter();
  const unit = new Uint8Array(unitLength);
  let got = 0;
  let stop: 'end' | 'over' | 'failed' | undefined;
  let failure: unknown;
  let stopped: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (stopped = resolve));
  const halt = (why: 'end' | 'over' | 'failed') => {
    stop ??= why;
    stopped();
  };
  const ask = (): void => {
    reader.read().then(
      (r) => {
        if (stop) return;
        if (r.done) return halt('end');
        if (got + r.value.length > unitLength) return halt('over');
        unit.set(r.value, got);
        got += r.value.length;
        ask();
      },
      (err: unknown) => {
        failure ??= err;
        halt('failed');
      },
    );
  };
  for (let i = Math.ceil(unitLength / MIN_PIECE) + 2; i > 0; i--) ask();
  for (let at = 0; at < stored.length && !stop; at += WRITE_PIECE) {
    await Promise.race([writer.write(stored.subarray(at, at + WRITE_PIECE)), done]).catch(() => undefined);
  }
  if (!stop) writer.close().catch(() => undefined);
  await done;
  await reader.cancel().catch(() => undefined);
  if (stop === 'over') throw new Error(`it holds more than ${unitLength} bytes`);
  if (got === 0 && failure) throw failure;
  return unit.subarray(0, got);
}

/** The browser's reader of compressed runs: deflate and zlib through DecompressionStream, zstd through fzstd (chain/decode-unit.ts). */
export const readCompressedInBrowser: DecodeCompressed = compressedReader(inflateUnit);
