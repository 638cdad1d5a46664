/**
 * The extent of one Zstandard frame (RFC 8878, section 3.1.1), found by
 * walking its header and block headers without decoding anything, so that
 * bytes after the frame (the start of the next qcow2 compressed cluster, as
 * QEMU's qcow2-threads.c notes) are never handed to the decoder.
 */

/** Zstandard frame magic, little-endian (RFC 8878, 3.1.1). */
const ZSTD_MAGIC = 0xfd2fb528;

/** Block_Type 3 is reserved (RFC 8878, 3.1.1.2.2). */
const BLOCK_RESERVED = 3;
/** Block_Type 1: an RLE block stores one byte whatever its Block_Size (RFC 8878, 3.1.1.2.2). */
const BLOCK_RLE = 1;

/** Where a frame ends, its Frame_Content_Size when the header gives one, and the window a decoder allocates for it. */
export interface ZstdFrame {
  end: number;
  contentSize?: number;
  /** Window_Size (RFC 8878, 3.1.1.1.2), or the content size for a single-segment frame. */
  windowSize: number;
}

/** Reads `n` bytes little-endian at `at` as a number (n ≤ 8; values past 2^53 lose precision, which only makes them larger than any limit). */
function readLe(buf: Uint8Array, at: number, n: number): number {
  let v = 0;
  for (let i = n - 1; i >= 0; i--) v = v * 256 + buf[at + i]!;
  return v;
}

/**
 * The end of the frame starting at byte 0 of `buf`, or a reason it is not a
 * whole frame (bad magic, reserved bits or block type, truncated).
 */
export function zstdFrame(buf: Uint8Array): ZstdFrame | string {
  if (buf.length < 6 || readLe(buf, 0, 4) !== ZSTD_MAGIC) return 'no zstd frame magic';
  const fhd = buf[4]!;
  if (fhd & 0x08) return 'reserved bit set in the frame header';
  const fcsFlag = fhd >> 6;
  const single = (fhd >> 5) & 1;
  const checksum = (fhd >> 2) & 1;
  const dictBytes = [0, 1, 2, 4][fhd & 3]!;
  const fcsBytes = fcsFlag === 0 ? single : 2 ** fcsFlag;
  let at = 5 + (single ? 0 : 1) + dictBytes;
  if (at + fcsBytes > buf.length) return 'truncated frame header';
  const contentSize = fcsBytes === 0 ? undefined : readLe(buf, at, fcsBytes) + (fcsBytes === 2 ? 256 : 0);
  const descriptor = buf[5]!;
  const base = 2 ** (10 + (descriptor >> 3));
  const windowSize = single ? (contentSize ?? 0) : base + (base / 8) * (descriptor & 7);
  at += fcsBytes;
  for (;;) {
    if (at + 3 > buf.length) return 'truncated block header';
    const header = readLe(buf, at, 3);
    const type = (header >> 1) & 3;
    if (type === BLOCK_RESERVED) return 'reserved block type';
    at += 3 + (type === BLOCK_RLE ? 1 : header >>> 3);
    if (at > buf.length) return 'truncated block';
    if (header & 1) break;
  }
  at += checksum * 4;
  if (at > buf.length) return 'truncated checksum';
  return { end: at, contentSize, windowSize };
}
