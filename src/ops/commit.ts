import { requireLocal } from '../io/open-source.js';
import { realpathSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { copyImage, type ProgressFn } from '../engine/copy.js';
import { DiskImageError, ioError } from '../errors.js';
import { openImage } from '../formats/registry.js';
import { openDirectDiskFile } from '../io/file.js';
import type { DiskImage, OpenOptions, WritableDiskImage } from '../formats/types.js';
import { layerPaths } from './output-file.js';

/** Options of `vdisk commit`. */
export interface CommitOptions extends OpenOptions {
  /** Commit every layer down to this ancestor (default: the direct parent). */
  base?: string;
  /** Remove the committed image (and the layers between it and the base) after success. */
  drop?: boolean;
  onProgress?: ProgressFn;
  signal?: AbortSignal;
}

/** What a commit did. */
export interface CommitResult {
  base: string;
  /** Layers merged into the base (top first). */
  merged: string[];
  /** Bytes of layer data written into the base. */
  dataBytes: number;
  /** Files removed by `drop`. */
  dropped: string[];
}

/** Flush the base every 1 GiB of committed data, bounding dirty metadata and making each point a consistent state. */
const FLUSH_EVERY = 1024 * 1024 * 1024;

/** Depth of `base` in the chain of `top` (1 = its parent), or a USAGE error. */
function baseDepth(top: DiskImage, base: string | undefined): number {
  const paths = layerPaths(top);
  if (paths.length < 2) throw new DiskImageError('USAGE', `${top.path} has no parent to commit into`);
  if (base === undefined) return 1;
  let real: string;
  try {
    real = realpathSync(base);
  } catch {
    throw new DiskImageError('USAGE', `base ${base} does not exist`);
  }
  const depth = paths.indexOf(real);
  if (depth < 1) throw new DiskImageError('USAGE', `${base} is not a parent of ${top.path}`);
  return depth;
}

/**
 * Merges the data of CHILD (and, with `base`, every layer down to that
 * ancestor) into the base: only the sectors those layers hold, explicit zeros
 * included. The base is written with its ordered flush every 1 GiB and at the
 * end, so a crash leaves every file openable and CHILD's guest view unchanged
 * (the base may hold a mix, as with Merge-VHD); running the same commit again
 * finishes the job. Layers between the base and CHILD become invalid
 * (docs/chains.md), and a warning names them. CHILD itself stays valid
 * unless `drop` removes it. Where writing data changes the base's identity
 * (VHDX DataWriteGuid), the layer just above the base is first told to
 * accept the new identity too (parent_linkage2) and re-linked to it at the
 * end, so the chain stays linked at every crash point.
 */
export async function commit(child: string, opts: CommitOptions = {}): Promise<CommitResult> {
  requireLocal(child, 'commit');
  const probe = await openImage(child, { ...opts, writable: false });
  let depth: number;
  let paths: string[];
  try {
    depth = baseDepth(probe, opts.base);
    paths = layerPaths(probe);
  } finally {
    await probe.close();
  }
  const basePath = paths[depth]!;
  // The layer just above the base records the base's identity; unless everything above the base is
  // dropped, it must follow the base's new identity (VHDX DataWriteGuid) so CHILD stays openable.
  const keepLinked = !opts.drop;
  const linkedPath = paths[depth - 1]!;
  const writableParents = keepLinked && depth > 1 ? [basePath, linkedPath] : [basePath];
  // The base takes the whole copy: its aligned data goes to the device directly, as a new convert output's does.
  const top = await openImage(child, { openFile: openDirectDiskFile, ...opts, writable: keepLinked && depth === 1, writableParents });
  let result: CommitResult;
  try {
    const layers: DiskImage[] = [top];
    for (let d = 0; d < depth; d++) layers.push(layers[d]!.parent!);
    const target = layers[depth] as WritableDiskImage;
    if (typeof target.writeAt !== 'function') throw new DiskImageError('UNSUPPORTED', `${basePath} cannot be written`);
    const relink = keepLinked ? (layers[depth - 1] as WritableDiskImage) : undefined;
    const identity = target.upcomingIdentity;
    if (relink?.acceptParentIdentity && identity) await relink.acceptParentIdentity(identity);
    const stats = await copyImage(top, target, { belowDepth: depth, overwrite: true, flushEvery: FLUSH_EVERY, onProgress: opts.onProgress, signal: opts.signal });
    await target.flush();
    if (relink?.setParent && identity) await relink.setParent(target);
    await relink?.refreshParentLink?.(target);
    const merged = paths.slice(0, depth);
    result = { base: basePath, merged, dataBytes: stats.dataBytes, dropped: opts.drop ? merged : [] };
  } finally {
    await top.close();
  }
  await dropLayers(result.dropped);
  const between = opts.drop ? [] : result.merged.slice(1);
  if (between.length > 0) {
    opts.onWarning?.(`the layers between ${basePath} and ${child} (${between.join(', ')}) no longer hold guest views of their own: the base changed under them, and ${child} still reads through them; other children of the base, if any, are invalid too (docs/chains.md)`);
  }
  return result;
}

async function dropLayers(files: string[]): Promise<void> {
  for (const f of files) {
    try {
      await unlink(f);
    } catch (err) {
      throw ioError(err, f, 'remove');
    }
  }
}
