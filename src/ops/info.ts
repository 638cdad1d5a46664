import { stat } from 'node:fs/promises';
import { openImage } from '../formats/registry.js';
import { isUrl } from '../io/http-source.js';
import type { DiskImage, ImageInfo, OpenOptions } from '../formats/types.js';

/** Options of `vdisk info`. */
export interface InfoOptions extends OpenOptions {
  format?: string;
  /** Describe every layer of the chain, top first. */
  chain?: boolean;
}

/** One layer's description; for a local file also the space its files (a descriptor's extents too) take on disk. */
async function describeLayer(image: DiskImage): Promise<ImageInfo> {
  const info = image.describe();
  if (!isUrl(image.path)) {
    let blocks = 0;
    for (const f of image.layer.files()) blocks += (await stat(f)).blocks;
    info.allocatedSize = blocks * 512;
  }
  return info;
}

/** Describes an image (or, with `chain`, each layer of its chain, top first). */
export async function info(path: string, opts: InfoOptions = {}): Promise<ImageInfo[]> {
  const image = await openImage(path, { ...opts, writable: false });
  try {
    const out: ImageInfo[] = [];
    for (let l: DiskImage | undefined = image; l; l = opts.chain ? l.parent : undefined) out.push(await describeLayer(l));
    return out;
  } finally {
    await image.close();
  }
}
