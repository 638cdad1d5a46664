import { randomBytes } from 'node:crypto';
import { existsSync, realpathSync, statSync } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { DiskImageError, ioError } from '../errors.js';
import type { DiskImage, WritableDiskImage } from '../formats/types.js';
import { openDirectDiskFile, openDiskFile } from '../io/file.js';
import { isUrl } from '../io/http-source.js';
import type { FileOpener } from '../io/image-file.js';

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
function tempPathFor(dst: string): string {
  return join(dirname(resolve(dst)), `.${basename(dst)}.vdisk-tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
}

/** Renames the finished temporary file over `dst` and fsyncs the directory so the rename is durable. */
async function commitOutput(temp: string, dst: string): Promise<void> {
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
async function discardOutput(temp: string): Promise<void> {
  await unlink(temp).catch(() => undefined);
}

/** What writeNewOutput's callback writes to: a temporary path, how to open it, and the image it makes there. */
export interface NewOutput {
  /** Where the output is made, beside its final name. */
  readonly temp: string;
  /** How to open it: O_DIRECT for cache 'none' (where the file system allows it), else through the page cache. */
  readonly openFile: FileOpener;
  /** The image the callback created at `temp`, when it made one: writeNewOutput flushes and closes it, or on failure closes it and removes its files. */
  image?: WritableDiskImage;
}

/**
 * Makes a new output file the way every convert does (docs/architecture.md,
 * principle 3): `write` creates it at a temporary name beside `dst`; then
 * the image it made (out.image) is flushed and closed, the file renamed to
 * `dst` and the directory fsynced. On any failure or interrupt the partial
 * output is removed, with every file its image made beside it (a VMDK's
 * extents).
 */
export async function writeNewOutput<T>(dst: string, cache: string | undefined, write: (out: NewOutput) => Promise<T>): Promise<T> {
  const out: NewOutput = { temp: tempPathFor(dst), openFile: cache === 'none' ? openDirectDiskFile : openDiskFile };
  let closed = false;
  try {
    const result = await write(out);
    await out.image?.flush();
    await out.image?.close();
    closed = true;
    await commitOutput(out.temp, dst);
    return result;
  } catch (err) {
    const image = closed ? undefined : out.image;
    const others = image ? image.layer.files().filter((f) => resolve(f) !== resolve(out.temp)) : [];
    await image?.close();
    for (const f of [out.temp, ...others]) await discardOutput(f);
    throw err;
  }
}
