import { fileHelper } from './native.js';

/**
 * Alignment of O_DIRECT transfers: buffer address, file offset and length
 * must be multiples of the device's logical block size; 4096 covers 512-byte
 * and 4 KiB-sector devices (Linux open(2), "O_DIRECT").
 */
export const DIRECT_ALIGN = 4096;

/**
 * A zeroed buffer of `size` bytes whose first byte is page-aligned, so that
 * whole-page pieces of it can be written with O_DIRECT. Without the native
 * helper (which tells the address) it is an ordinary buffer and writes of it
 * stay buffered.
 */
export function alignedBuffer(size: number): Uint8Array {
  const raw = new Uint8Array(size + DIRECT_ALIGN);
  const offset = fileHelper.pageOffset(raw);
  const shift = offset < 0 ? 0 : (DIRECT_ALIGN - offset) % DIRECT_ALIGN;
  return raw.subarray(shift, shift + size);
}

/** True when `buf` starts on a page boundary, as O_DIRECT needs. */
export function isPageAligned(buf: Uint8Array): boolean {
  return fileHelper.pageOffset(buf) === 0;
}
