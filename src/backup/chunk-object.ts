import { createHash } from 'node:crypto';
import { zstdUnit } from '../chain/decode-unit.js';
import { compressBound } from '../util/compressor.js';
import { DiskImageError } from '../errors.js';
import { CHUNK_SIZE } from './layout.js';

/**
 * A stored chunk (docs/backup.md, "Chunk objects"): a 16-byte header, then
 * one Zstandard frame of the plaintext. Header: "VDBKCHK1" (8 bytes), the
 * plaintext length (u32 LE, at most CHUNK_SIZE), the codec (u32 LE, 1 = zstd).
 */

/** Bytes of the header before the frame. */
export const CHUNK_HEADER = 16;

const MAGIC = new TextEncoder().encode('VDBKCHK1');
const CODEC_ZSTD = 1;

/** The most bytes a chunk object can take: the header and a frame of CHUNK_SIZE at its bound. */
export const MAX_CHUNK_OBJECT = CHUNK_HEADER + compressBound(CHUNK_SIZE);

/** SHA-256 of `data` as hex. */
export function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Writes the header for a plaintext of `length` bytes into the first CHUNK_HEADER bytes of `object`. */
export function writeChunkHeader(object: Uint8Array, length: number): void {
  object.set(MAGIC, 0);
  const view = new DataView(object.buffer, object.byteOffset, CHUNK_HEADER);
  view.setUint32(8, length, true);
  view.setUint32(12, CODEC_ZSTD, true);
}

/**
 * The plaintext of chunk object `object` (named `name`), which must be
 * `length` bytes with SHA-256 `digest`: the header is checked before
 * anything is allocated, the frame is decoded (by `decode`, fzstd's
 * bounded stream decoder unless given) never past `length` bytes,
 * and the digest is verified. Any mismatch is CORRUPT naming the chunk and
 * `context` (the snapshot).
 */
export function decodeChunk(object: Uint8Array, name: string, digest: string, length: number, context: string, decode: (frame: Uint8Array, length: number) => Uint8Array = zstdUnit): Uint8Array {
  const fail = (why: string) => new DiskImageError('CORRUPT', `chunk ${name} of ${context}: ${why}`, { chunk: name, operation: 'restore' });
  if (object.length < CHUNK_HEADER || MAGIC.some((b, i) => object[i] !== b)) throw fail('no chunk header (truncated or not a chunk)');
  const view = new DataView(object.buffer, object.byteOffset, CHUNK_HEADER);
  const stored = view.getUint32(8, true);
  if (view.getUint32(12, true) !== CODEC_ZSTD) throw fail(`unknown codec ${view.getUint32(12, true)}`);
  if (stored !== length) throw fail(`it holds ${stored} bytes, the snapshot expects ${length}`);
  let plain: Uint8Array;
  try {
    plain = decode(object.subarray(CHUNK_HEADER), length);
  } catch (err) {
    throw fail(`does not decompress: ${(err as Error).message}`);
  }
  if (plain.length !== length) throw fail(`decompresses to ${plain.length} bytes, not ${length}`);
  if (sha256Hex(plain) !== digest) throw fail('its SHA-256 does not match its name');
  return plain;
}
