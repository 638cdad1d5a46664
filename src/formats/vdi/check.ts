import { Findings } from '../findings.js';
import type { Finding } from '../types.js';
import { BlockMap } from './block-map.js';

/**
 * `vdisk check` of a VDI image: data blocks two guest blocks share, indexes
 * past cBlocks, cBlocksAllocated that disagrees with the block array, and
 * data blocks in the file that no guest block uses (leaked space). Placement
 * past the end of the file is refused or warned about at open (BlockMap.read).
 */
export function checkVdi(map: BlockMap, fileSize: number): Finding[] {
  const out = new Findings();
  const { entries, header } = map;
  const owner = new Map<number, number>();
  let allocated = 0;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    if (!BlockMap.allocated(e)) continue;
    allocated++;
    if (e >= header.blocks) out.add('nonconformance', 'BLOCK_INDEX', `block ${i} points at data block ${e}, past cBlocks (${header.blocks})`);
    const first = owner.get(e);
    if (first === undefined) owner.set(e, i);
    else out.add('corruption', 'SHARED_BLOCK', `blocks ${first} and ${i} both point at data block ${e}`);
  }
  if (allocated !== header.blocksAllocated) out.add('warning', 'ALLOCATED_COUNT', `cBlocksAllocated says ${header.blocksAllocated}, the block array has ${allocated}`);
  const slots = fileSize > header.dataOffset ? Math.floor((fileSize - header.dataOffset) / map.stride) : 0;
  let unused = 0;
  for (let s = 0; s < slots; s++) if (!owner.has(s)) unused++;
  if (unused > 0) out.add('leak', 'LEAKED_BLOCKS', `${unused} data block(s) in the file belong to no guest block (${unused * map.stride} bytes)`);
  return out.done();
}
