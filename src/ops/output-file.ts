import { randomBytes } from 'node:crypto';
import { existsSync, realpathSync, statSync } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { DiskImageError, ioError } from '../errors.js';
import type { DiskImage } from '../formats/types.js';
import { openDiskFile } from '../io/file.js';
import { isUrl } from '../io/http-source.js';

/** The path of each layer of an image's chain, top first (index = depth), as real paths (URLs as they are). */
export function layerPaths(image: DiskImage): string[] {
  const out: string[] = [];
  for (let l: DiskImage | undefined = image; l; l = l.parent) out.push(isUrl(l.path) ? l.path : realpathSync(l.path));
  return out;
}

/** Every file of an image's chain (each layer's files, top first), as real paths (URLs as they are). */
export function chainPaths(image: DiskImage): string[] {
  const out: string[] = [];
  for (let l: DiskImage | undefined = image; l; l = l.parent) for (const f of l.layer.files()) out.push(isUrl(f) ? f : realpathSync(f));
  return out;
}

/** Refuses an output path that is an input image or one of its parents (after resolving links). */
export function refuseInputPath(dst: string, inputs: DiskImage[]): void {
  if (!existsSync(dst)) return;
  const real = realpathSync(dst);
  for (const img of inputs) {
    if (chainPaths(img).includes(real)) {
      throw new DiskImageError('USAGE', `${dst} is ${chainPaths(img)[0] === real ? 'the source image' : 'a parent of the source'}; refusing to overwrite it`, { path: dst });
    }
  }
}

/** Refuses an output path that is an input image or one of its parents, or that already exists. */
export function checkOutputPath(dst: string, inputs: DiskImage[]): void {
  refuseInputPath(dst, inputs);
  if (existsSync(dst)) throw new DiskImageError('USAGE', `${dst} already exists; remove it first`, { path: dst });
}

/**
 * Checks an output path that may be replaced (`convert --replace`): not an
 * input or one of its parents, and, when it exists, a regular file that no
 * other process holds (vdisk takes the write lock qemu would hold, briefly).
 */
export async function checkReplaceablePath(dst: string, inputs: DiskImage[]): Promise<void> {
  refuseInputPath(dst, inputs);
  if (!existsSync(dst)) return;
  if (!statSync(dst).isFile()) throw new DiskImageError('USAGE', `${dst} is not a regular file; --replace would swap it for one (use -n to write into it)`, { path: dst });
  const held = await openDiskFile(dst, 'write');
  await held.close();
}

/** A temporary name beside `dst`, so the final rename stays on one file system. */
export function tempPathFor(dst: string): string {
  return join(dirname(resolve(dst)), `.${basename(dst)}.vdisk-tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
}

/** Renames the finished temporary file over `dst` and fsyncs the directory so the rename is durable. */
export async function commitOutput(temp: string, dst: string): Promise<void> {
  try {
    await rename(temp, dst);
    const dir = await open(dirname(resolve(dst)), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  } catch (err) {
    throw ioError(err, dst, 'finish');
  }
}

/** Removes a partial output; never throws. */
export async function discardOutput(temp: string): Promise<void> {
  await unlink(temp).catch(() => undefined);
}
