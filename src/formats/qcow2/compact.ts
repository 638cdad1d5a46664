import type { OpenOptions } from '../types.js';
import { openQcow2 } from './open.js';
import type { WritableQcow2Layer } from './writer.js';

/** `vdisk compact` for qcow2: every all-zero cluster the image owns becomes a zero cluster, its space punched out (WritableQcow2Layer.dropZeroClusters). */
export async function compactQcow2(path: string, options: OpenOptions): Promise<{ blocksDropped: number }> {
  const layer = (await openQcow2(path, { ...options, writable: true })) as WritableQcow2Layer;
  try {
    return { blocksDropped: await layer.dropZeroClusters() };
  } finally {
    await layer.close();
  }
}
