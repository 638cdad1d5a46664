import { DiskImageError } from '../errors.js';

/** Converts a 64-bit field to a JS number, refusing values past 2^53 (`OUT_OF_RANGE`). */
export function u64ToNumber(value: bigint, field: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new DiskImageError('OUT_OF_RANGE', `${field} is ${value}, larger than vdisk can address (2^53)`, {
      field,
      value: value.toString(),
    });
  }
  return Number(value);
}

/** Throws `CORRUPT` unless `offset + length` lies within `[0, limit]`. */
export function assertWithin(what: string, offset: number, length: number, limit: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > limit) {
    throw new DiskImageError(
      'CORRUPT',
      `${what} at offset ${offset} (length ${length}) lies outside the file (size ${limit})`,
      { field: what, offset, length, limit },
    );
  }
}

/** True when n is a positive power of two. */
export function isPowerOfTwo(n: number): boolean {
  return Number.isSafeInteger(n) && n > 0 && 2 ** Math.round(Math.log2(n)) === n;
}

/** Rounds n up to a multiple of `unit`. */
export function roundUp(n: number, unit: number): number {
  return Math.ceil(n / unit) * unit;
}
