import { dirname, relative } from 'node:path';
import { DiskImageError } from '../../errors.js';
import { openDiskFile } from '../../io/file.js';
import { reusingOpener } from '../../io/reusing-opener.js';
import { preallocate } from '../preallocation.js';
import type { CreateOptions } from '../types.js';
import { encodeHeaderCluster } from './header-writer.js';
import { planNewImage, writeNewImage } from './layout.js';
import { openQcow2 } from './open.js';
import { allClusters, newHeader, qcow2Settings } from './settings.js';
import type { WritableQcow2Layer } from './writer.js';

/** `-o` options `vdisk create -f qcow2` and `convert -O qcow2` accept (qemu-img's names). */
export const QCOW2_CREATE_OPTIONS = ['cluster_size', 'compat', 'lazy_refcounts', 'extended_l2', 'preallocation', 'backing_file', 'backing_fmt', 'compression_type', 'compressed'] as const;

/** The option `convert -c` sets: every cluster compressed (written front to back, by convert only). */
export const COMPRESSED_OPTIONS = { compressed: 'on' } as const;

/**
 * Creates a new qcow2 at `path` (which must not exist) and reopens it for
 * writing: header, refcount table and blocks, an empty L1 table; with
 * preallocation=metadata every L2 table and data cluster as well (the file
 * sparse over them), with preallocation=full the data allocated on disk.
 * The backing file, when there is one, is `parent` (or the backing_file option).
 */
export async function createQcow2(path: string, opts: CreateOptions): Promise<WritableQcow2Layer> {
  const parent = opts.parent && { name: relative(dirname(opts.finalPath ?? path), opts.parent.path), format: opts.parent.format };
  const s = qcow2Settings(opts.options, opts.virtualSize, parent);
  if (s.compressed) throw new DiskImageError('USAGE', 'a compressed qcow2 (compressed=on, convert -c) is written front to back by convert; create makes an empty image');
  const plan = planNewImage({ clusterBits: s.clusterBits, extended: s.extended, l1Size: s.l1Size, dataClusters: s.preallocation === 'off' ? [] : allClusters(s) });
  const openFile = opts.openFile ?? openDiskFile;
  const file = await openFile(path, 'create');
  try {
    await writeNewImage(file, plan, encodeHeaderCluster({ header: newHeader(s, plan), backing: s.backing }, plan.clusterSize));
    await file.truncate(plan.end * plan.clusterSize);
    if (s.preallocation === 'full') await preallocate(file, plan.dataAt * plan.clusterSize, (plan.end - plan.dataAt) * plan.clusterSize);
    await file.sync();
  } catch (err) {
    await file.close();
    throw err;
  }
  return (await openQcow2(path, { writable: true, openFile: reusingOpener(file, path, openFile) })) as WritableQcow2Layer;
}
