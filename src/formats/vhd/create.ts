import { openDiskFile } from '../../io/file.js';
import type { CreateOptions } from '../types.js';
import { readVhdLayout } from './layout.js';
import { planVhd, writeNewVhd } from './new-image.js';
import { vhdParentLink } from './parent-link.js';
import { VhdLayer } from './reader.js';
import { vhdParentRef } from './parent-ref.js';
import { WritableVhdLayer } from './writer.js';

/** `-o` options `vdisk create -f vhd` accepts. */
export const VHD_CREATE_OPTIONS = ['subformat', 'block_size', 'preallocation'] as const;

/**
 * Creates a new VHD: fixed (data then footer), dynamic or, with a parent,
 * differencing (footer copy, header, BAT, locator data, footer). The file must
 * not exist. Returns the image open for writing.
 */
export async function createVhd(path: string, opts: CreateOptions): Promise<WritableVhdLayer> {
  const plan = planVhd(opts);
  const parent = opts.parent?.layer;
  const file = await (opts.openFile ?? openDiskFile)(path, 'create');
  try {
    await writeNewVhd(file, plan, parent instanceof VhdLayer ? vhdParentLink(file.path, parent) : undefined);
    const layout = await readVhdLayout(file);
    return new WritableVhdLayer(file, layout, vhdParentRef(layout));
  } catch (err) {
    await file.close();
    throw err;
  }
}
