import { constants, inflateRawSync, inflateSync } from 'node:zlib';
import { compressedReader } from './decode-unit.js';

/**
 * Reads a compressed run with node:zlib for deflate and zlib units (a stream
 * cut short is inflated as far as it goes, Z_SYNC_FLUSH) and fzstd for zstd
 * (chain/decode-unit.ts): the decoder of the CLI and the library.
 */
export const readCompressed = compressedReader((codec, stored, unitLength) => {
  const opts = { maxOutputLength: unitLength, finishFlush: constants.Z_SYNC_FLUSH };
  return codec === 'deflate' ? inflateRawSync(stored, opts) : inflateSync(stored, opts);
});
