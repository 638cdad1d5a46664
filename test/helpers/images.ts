import { createHash } from 'node:crypto';
import { openImage } from '../../src/formats/registry.js';
import type { DiskImage, Extent, OpenOptions, WritableDiskImage } from '../../src/formats/types.js';
import { fillPattern } from './pattern-disk.js';

/** sha256 of an image's whole guest view, read in 4 MiB pieces. */
export async function guestSha256(image: DiskImage): Promise<string> {
  const h = createHash('sha256');
  const buf = new Uint8Array(4 * 1024 * 1024);
  for (let pos = 0; pos < image.virtualSize; pos += buf.length) {
    const piece = buf.subarray(0, Math.min(buf.length, image.virtualSize - pos));
    await image.readAt(piece, pos);
    h.update(piece);
  }
  return h.digest('hex');
}

/** Opens a file and returns the sha256 of its guest view. */
export async function guestSha256OfFile(path: string, options: OpenOptions & { format?: string } = {}): Promise<string> {
  const image = await openImage(path, options);
  try {
    return await guestSha256(image);
  } finally {
    await image.close();
  }
}

/** The whole guest view as one buffer (small images only). */
export async function readAll(image: DiskImage): Promise<Uint8Array> {
  const buf = new Uint8Array(image.virtualSize);
  await image.readAt(buf, 0);
  return buf;
}

/** All extents of an image (through its chain, or its own with `own`). */
export async function extentsOf(image: DiskImage, own = false): Promise<Extent[]> {
  const out: Extent[] = [];
  for await (const e of image.extents(undefined, own)) out.push(e);
  return out;
}

/** True when two byte arrays hold the same bytes. */
export function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a).equals(Buffer.from(b));
}

/**
 * Writes `length` pattern bytes (seed) at `offset` into the image and into
 * `model`, from a view one byte into its buffer (so never page-aligned: the
 * writer must not depend on the caller's alignment).
 */
export async function writeBoth(image: WritableDiskImage, model: Uint8Array, offset: number, length: number, seed: number): Promise<void> {
  const data = new Uint8Array(length + 8);
  fillPattern(data, 0, seed);
  const piece = data.subarray(1, 1 + length);
  await image.writeAt(piece, offset);
  model.set(piece, offset);
}
