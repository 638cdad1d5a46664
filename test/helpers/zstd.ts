/** A frame of raw blocks (RFC 8878 3.1.1): single segment with a 1-byte content size when `fcs`, else a window descriptor and none. */
export function rawFrame(blocks: Uint8Array[], fcs: boolean, checksum = false): Uint8Array {
  const parts: number[] = [0x28, 0xb5, 0x2f, 0xfd];
  const total = blocks.reduce((n, b) => n + b.length, 0);
  if (fcs) parts.push(0x20 | (checksum ? 4 : 0), total);
  else parts.push(checksum ? 4 : 0, 0x50);
  blocks.forEach((b, i) => {
    const h = (b.length << 3) | (i === blocks.length - 1 ? 1 : 0);
    parts.push(h & 0xff, (h >> 8) & 0xff, (h >> 16) & 0xff, ...b);
  });
  if (checksum) parts.push(1, 2, 3, 4);
  return Uint8Array.from(parts);
}

/** A frame of `blocks` RLE blocks of 128 KiB each (4 bytes apiece): `blocks` × 128 KiB of output from a few KiB, with a 128 KiB window. */
export function rleBomb(blocks: number): Uint8Array {
  const parts: number[] = [0x28, 0xb5, 0x2f, 0xfd, 0, 0x38];
  for (let i = 0; i < blocks; i++) {
    const h = (131072 << 3) | (1 << 1) | (i === blocks - 1 ? 1 : 0);
    parts.push(h & 0xff, (h >> 8) & 0xff, (h >> 16) & 0xff, 0x61);
  }
  return Uint8Array.from(parts);
}
