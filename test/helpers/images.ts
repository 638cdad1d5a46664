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

const MiB = 1024 * 1024;

/**
 * Unaligned writes into `image` (a new image of `size` bytes at `path`,
 * at least 4 MiB): six of them, the image flushed, closed and reopened
 * writable after the third; `last` may change it further before the final
 * flush. Checks that the reopened image reads what was written and returns
 * that model of its guest view.
 */
export async function writeAcrossReopen(image: WritableDiskImage, path: string, size: number, last?: (image: WritableDiskImage, model: Uint8Array) => Promise<void>): Promise<Uint8Array> {
  const model = new Uint8Array(size);
  const writes: [number, number][] = [[777, 1000], [2 * MiB - 300, 700], [size - 100, 100], [3 * MiB + 5, 1], [600 * 1024, MiB + 17], [64 * 1024 - 1, 2]];
  for (const [i, [offset, length]] of writes.entries()) {
    await writeBoth(image, model, offset, length, 0x300 + i);
    if (i === 2) {
      await image.flush();
      await image.close();
      image = (await openImage(path, { writable: true })) as WritableDiskImage;
    }
  }
  await last?.(image, model);
  await image.flush();
  await image.close();
  const again = await openImage(path);
  try {
    if (!Buffer.from(await readAll(again)).equals(Buffer.from(model))) throw new Error(`${path} does not read what was written`);
  } finally {
    await again.close();
  }
  return model;
}
