import { roundNewSize } from '../resize-common.js';
import { checkShrink } from '../shrink-check.js';
import type { ResizeOptions, ResizeResult } from '../types.js';
import { ENTRY_BYTES } from './constants.js';
import { openQcow2 } from './open.js';
import type { WritableQcow2Layer } from './writer.js';
import { QCOW2_MAX_L1_BYTES } from '../../limits.js';

/**
 * `vdisk resize` for qcow2: the size rounded up to 512 bytes (qemu's unit),
 * at most what a 32 MiB L1 table maps; a shrink needs `shrink` and a cut
 * range of zeros (checkShrink). A child over a backing file may be resized
 * too: past its backing file's end it reads zeros ("Cluster mapping").
 */
export async function resizeQcow2(path: string, requested: number, opts: ResizeOptions): Promise<ResizeResult> {
  const layer = (await openQcow2(path, { ...opts, writable: true })) as WritableQcow2Layer;
  try {
    const oldSize = layer.virtualSize;
    const max = Math.min(Number.MAX_SAFE_INTEGER, (QCOW2_MAX_L1_BYTES / ENTRY_BYTES) * layer.grain * layer.clusters.perTable);
    const newSize = roundNewSize(requested, 512, max, 'a qcow2 image', ` with ${layer.grain}-byte clusters`);
    await checkShrink(layer, newSize, opts.shrink);
    await layer.setSize(newSize);
    return { oldSize, newSize };
  } finally {
    await layer.close();
  }
}
