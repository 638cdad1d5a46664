import { DiskImageError } from '../errors.js';

/** Throws `OUT_OF_RANGE` unless [offset, offset+length) lies inside a disk of `virtualSize` bytes. */
export function assertGuestRange(action: 'read' | 'write' | 'access', offset: number, length: number, virtualSize: number): void {
  if (!Number.isSafeInteger(offset) || offset < 0 || offset + length > virtualSize) {
    throw new DiskImageError('OUT_OF_RANGE', `${action} of ${length} bytes at ${offset} is outside the ${virtualSize}-byte disk`, { offset, length });
  }
}

/** One block's part of a guest range. */
export interface BlockPiece {
  block: number;
  /** Offset of the piece inside its block. */
  inBlock: number;
  /** Offset of the piece inside the range (where it starts in the caller's buffer). */
  at: number;
  length: number;
}

/** Splits [offset, offset+length) at `blockSize` boundaries. */
export function blockPieces(offset: number, length: number, blockSize: number): BlockPiece[] {
  const out: BlockPiece[] = [];
  for (let pos = offset; pos < offset + length; ) {
    const block = Math.floor(pos / blockSize);
    const n = Math.min((block + 1) * blockSize, offset + length) - pos;
    out.push({ block, inBlock: pos - block * blockSize, at: pos - offset, length: n });
    pos += n;
  }
  return out;
}
