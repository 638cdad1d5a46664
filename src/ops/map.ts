import { openImage } from '../formats/registry.js';
import type { Extent, OpenOptions } from '../formats/types.js';

/** The allocation extents of an image through its chain (`vdisk map`). */
export async function map(path: string, opts: OpenOptions & { format?: string } = {}): Promise<Extent[]> {
  const image = await openImage(path, { ...opts, writable: false });
  try {
    const out: Extent[] = [];
    for await (const e of image.extents()) out.push(e);
    return out;
  } finally {
    await image.close();
  }
}
