import { openDiskFile } from '../../io/file.js';
import { zeroPastEnd } from '../../io/zero-past-end.js';
import { MetadataBudget } from '../../util/metadata-budget.js';
import type { CreateOptions } from '../types.js';
import { BlockMap } from './block-map.js';
import { parseVdiHeader } from './header.js';
import { planVdi, writeNewVdi } from './new-image.js';
import { vdiParentRef } from './parent-ref.js';
import { WritableVdiLayer } from './writer.js';

/** `-o` options `vdisk create -f vdi` accepts. */
export const VDI_CREATE_OPTIONS = ['subformat', 'block_size', 'preallocation'] as const;

/** Creates a new VDI (new-image.ts says how it is laid out). The file must not exist. Returns the image open for writing. */
export async function createVdi(path: string, opts: CreateOptions): Promise<WritableVdiLayer> {
  const plan = planVdi(opts);
  const file = await (opts.openFile ?? openDiskFile)(path, 'create');
  try {
    await writeNewVdi(file, plan);
    const header = parseVdiHeader(path, plan.head);
    const warnings: string[] = [];
    const blockMap = await BlockMap.read(file, header, zeroPastEnd(file), warnings, new MetadataBudget(path));
    return new WritableVdiLayer(file, header, blockMap, warnings, opts.parent?.layer ? vdiParentRef(header) : undefined);
  } catch (err) {
    await file.close();
    throw err;
  }
}
