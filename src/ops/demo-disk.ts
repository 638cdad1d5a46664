import { createImage } from '../formats/registry.js';

/** Bytes of text that fill the demo disk's blocks: which block, and where in it. */
function labelled(block: number, length: number): Uint8Array {
  const line = Buffer.from(`vdisk demo block ${String(block).padStart(6, '0')} `, 'latin1');
  const out = new Uint8Array(length);
  for (let pos = 0; pos < length; pos += line.length) out.set(line.subarray(0, Math.min(line.length, length - pos)), pos);
  return out;
}

/**
 * Writes the demo's sparse raw disk of `size` bytes: three blocks of every
 * ten hold text naming the block, the rest are holes. Returns how many
 * blocks hold data.
 */
export async function writeDemoDisk(path: string, size: number, blockSize: number): Promise<number> {
  const image = await createImage(path, 'raw', { virtualSize: size, options: {} });
  let written = 0;
  try {
    for (let b = 0; b * blockSize < size; b++) {
      if ((b * 7) % 10 >= 3) continue;
      await image.writeAt(labelled(b, Math.min(blockSize, size - b * blockSize)), b * blockSize);
      written++;
    }
    await image.flush();
  } finally {
    await image.close();
  }
  return written;
}

/** A piece of text to patch into the demo's differencing child. */
export function demoPatch(length: number): Uint8Array {
  return labelled(999999, length);
}
