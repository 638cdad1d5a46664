/** 1 MiB of zeros to write or emit from (zeroing ranges, padding streams); never written to. */
export const ZERO_MIB = new Uint8Array(1024 * 1024);

const ZERO = Buffer.alloc(1 << 16);

/** True when every byte of buf is zero; compares 64 KiB at a time with memcmp speed. */
export function isAllZero(buf: Uint8Array): boolean {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  for (let off = 0; off < b.length; off += ZERO.length) {
    const n = Math.min(ZERO.length, b.length - off);
    if (ZERO.compare(b, off, off + n, 0, n) !== 0) return false;
  }
  return true;
}
