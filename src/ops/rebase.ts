import { requireLocal } from '../io/open-source.js';
import { realpathSync } from 'node:fs';
import type { ProgressFn } from '../engine/copy.js';
import { DiskImageError } from '../errors.js';
import { openImage } from '../formats/registry.js';
import type { OpenOptions, WritableDiskImage } from '../formats/types.js';
import { copyDifferences } from './differences.js';
import { chainPaths } from './output-file.js';

/** Options of `vdisk rebase`. */
export interface RebaseOptions extends OpenOptions {
  /** Only rewrite the parent reference (`-u`); the guest view changes if the parents differ. */
  unsafe?: boolean;
  onProgress?: ProgressFn;
}

/** What a rebase did. */
export interface RebaseResult {
  /** Bytes copied into the child where the old and new backing differ. */
  copiedBytes: number;
}

/**
 * Gives CHILD a new parent. Safe mode (default) first copies into the child
 * whatever differs between the old and new backing, flushes, and only then
 * rewrites the parent reference, so the guest view never changes and a crash
 * leaves the child readable over either parent. `unsafe` only rewrites the
 * reference, after checking the new parent's size.
 */
export async function rebase(childPath: string, newBasePath: string, opts: RebaseOptions = {}): Promise<RebaseResult> {
  requireLocal(childPath, 'rebase');
  requireLocal(newBasePath, 'a new base');
  const child = (await openImage(childPath, { ...opts, writable: true })) as WritableDiskImage;
  try {
    if (!child.parent || !child.setParent) throw new DiskImageError('USAGE', `${childPath} is not a differencing image`);
    const newBase = await openImage(newBasePath, { ...opts, writable: false });
    try {
      if (chainPaths(newBase).includes(realpathSync(childPath))) throw new DiskImageError('USAGE', `${newBasePath} is ${childPath} or based on it: that would make a loop`);
      if (newBase.virtualSize !== child.virtualSize) {
        throw new DiskImageError('PARENT', `new parent ${newBasePath} is ${newBase.virtualSize} bytes, the child ${child.virtualSize}`);
      }
      const copiedBytes = opts.unsafe ? 0 : await copyDifferences(child, child.parent, newBase, opts.onProgress);
      await child.flush();
      await child.setParent(newBase);
      return { copiedBytes };
    } finally {
      await newBase.close();
    }
  } finally {
    await child.close();
  }
}
