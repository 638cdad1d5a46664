import { requireLocal } from '../io/open-source.js';
import { createImage, openImage } from '../formats/registry.js';
import type { DiskImage, OpenOptions } from '../formats/types.js';
import { checkOutputPath } from './output-file.js';
import { DiskImageError } from '../errors.js';

/** Options of `vdisk create`. */
export interface CreateCommandOptions extends OpenOptions {
  format: string;
  /** Virtual size; defaults to the parent's size for a differencing image. */
  size?: number;
  options?: Record<string, string>;
  /** Parent image for a differencing child (`-b`). */
  backing?: string;
}

/** Creates a new empty image (or a differencing child of `backing`) and returns its description. */
export async function create(path: string, opts: CreateCommandOptions): Promise<void> {
  requireLocal(path, 'creating an image');
  if (opts.backing) requireLocal(opts.backing, 'the parent of a new differencing image');
  let parent: DiskImage | undefined;
  try {
    if (opts.backing) parent = await openImage(opts.backing, { ...opts, writable: false });
    checkOutputPath(path, parent ? [parent] : []);
    const size = opts.size ?? parent?.virtualSize;
    if (size === undefined) throw new DiskImageError('USAGE', 'create needs a size (or -b PARENT)');
    const image = await createImage(path, opts.format, { virtualSize: size, options: opts.options ?? {}, parent });
    await image.flush();
    await image.close();
    parent = undefined;
  } finally {
    await parent?.close();
  }
}
