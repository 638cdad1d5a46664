import { openDiskFile } from '../../io/file.js';
import type { CreateOptions } from '../types.js';
import { readVhdxLayout } from './layout.js';
import { planVhdx, writeNewVhdx } from './new-image.js';
import { parentLocatorEntries } from './parent-link.js';
import { vhdxParentRef } from './parent-ref.js';
import { VhdxLayer } from './reader.js';
import { WritableVhdxLayer } from './writer.js';

/** `-o` options `vdisk create -f vhdx` accepts. */
export const VHDX_CREATE_OPTIONS = ['subformat', 'block_size', 'logical_sector_size', 'physical_sector_size', 'preallocation'] as const;

/**
 * Creates a new VHDX (new-image.ts says what it holds): fixed, dynamic or,
 * with a parent, differencing. The file must not exist. Returns the image
 * open for writing.
 */
export async function createVhdx(path: string, opts: CreateOptions): Promise<WritableVhdxLayer> {
  const plan = planVhdx(opts);
  const parent = opts.parent?.layer;
  const file = await (opts.openFile ?? openDiskFile)(path, 'create');
  try {
    await writeNewVhdx(file, plan, parent instanceof VhdxLayer ? parentLocatorEntries(file.path, parent) : undefined);
    const layout = await readVhdxLayout(file, true);
    return new WritableVhdxLayer(path, layout, vhdxParentRef(path, layout));
  } catch (err) {
    await file.close();
    throw err;
  }
}
