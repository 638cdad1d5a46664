import { DiskImageError } from '../../errors.js';
import type { ImageFile } from '../../io/image-file.js';
import { roundNewSize, zeroFileRange } from '../resize-common.js';
import { checkShrink } from '../shrink-check.js';
import type { ResizeOptions, ResizeResult } from '../types.js';
import { BlockMap } from './block-map.js';
import { BLOCK_FREE, SECTOR } from './constants.js';
import type { VdiHeader } from './header.js';
import { encodeEntries, moveBlocks, openVdiForChange, owners, packBlocks, writeLayout, type BlockMove } from './relocate.js';
import { VDI_MAX_BLOCK_MAP_BYTES } from '../../limits.js';

/**
 * Pointers for guest blocks [from, to) of a grown image: free in a dynamic
 * image; in a fixed one new data blocks from `next` on, as VirtualBox
 * allocates a fixed image whole.
 */
function newEntries(header: VdiHeader, from: number, to: number, next: number): Uint32Array {
  const entries = new Uint32Array(to - from).fill(BLOCK_FREE);
  if (header.type === 'fixed') entries.forEach((_, i) => (entries[i] = next + i));
  return entries;
}

/**
 * Zeroes the bytes of the old last block past the old size (a foreign writer
 * may have left bytes there), so they never surface after a grow; fsync.
 */
async function zeroOldTail(file: ImageFile, map: BlockMap, oldSize: number): Promise<void> {
  const bs = map.header.blockSize;
  const e = map.entries[map.entries.length - 1]!;
  if (oldSize % bs === 0 || !BlockMap.allocated(e)) return;
  if (await zeroFileRange(file, map.dataAt(e) + (oldSize % bs), bs - (oldSize % bs))) await file.sync();
}

/**
 * Grow. When the larger block array fits before offData (VirtualBox aligns
 * offData to 1 MiB, so there is room for 256 Ki entries), the new pointers
 * are written after the old ones (fsync) and the header switched (one
 * sector, fsync). Otherwise the array moves into the first k data blocks,
 * k the number that holds it, and offData moves k blocks up: the data blocks
 * in use among the first k are copied past the others and repointed
 * (moveBlocks), the new array, every pointer lowered by k, is written into
 * the first k blocks (fsync), and one header write switches offBlocks,
 * offData, cBlocks and cbDisk together. Until then the old header, array
 * and data rule; after it the new ones. A fixed image gets new data blocks
 * for the new guest blocks (the file grown, fsync, before the header).
 */
async function grow(file: ImageFile, header: VdiHeader, map: BlockMap, size: number, newBlocks: number): Promise<void> {
  await zeroOldTail(file, map, header.diskSize);
  const oldBlocks = header.blocks;
  const stride = map.stride;
  if (header.blocksOffset + newBlocks * 4 <= header.dataOffset) {
    const next = BlockMap.nextIndex(map.entries);
    const added = newEntries(header, oldBlocks, newBlocks, next);
    const end = header.dataOffset + (next + (header.type === 'fixed' ? added.length : 0)) * stride;
    if (file.size < end) await file.truncate(end);
    await file.write(encodeEntries(added), header.blocksOffset + oldBlocks * 4);
    await file.sync();
    const allocated = BlockMap.countAllocated(map.entries) + BlockMap.countAllocated(added);
    await writeLayout(file, header, { diskSize: size, blocks: newBlocks, blocksAllocated: allocated });
    return;
  }
  const k = Math.ceil((newBlocks * 4) / stride);
  const owner = owners(map);
  const moves: BlockMove[] = [];
  for (let slot = k, from = 0; from < k; from++) {
    if (!owner.has(from)) continue;
    while (owner.has(slot)) slot++;
    moves.push({ block: owner.get(from)!, from, to: slot++ });
  }
  await moveBlocks(file, map, moves);
  const next = BlockMap.nextIndex(map.entries) - k;
  const entries = new Uint32Array(newBlocks);
  map.entries.forEach((e, b) => (entries[b] = BlockMap.allocated(e) ? e - k : e));
  entries.set(newEntries(header, oldBlocks, newBlocks, Math.max(0, next)), oldBlocks);
  const blocksOffset = header.dataOffset;
  const dataOffset = header.dataOffset + k * stride;
  const inUse = BlockMap.nextIndex(entries);
  if (file.size < dataOffset + inUse * stride) await file.truncate(dataOffset + inUse * stride);
  await file.write(encodeEntries(entries), blocksOffset);
  await file.sync();
  await writeLayout(file, header, { blocksOffset, dataOffset, diskSize: size, blocks: newBlocks, blocksAllocated: BlockMap.countAllocated(entries) });
}

/**
 * Shrink (the cut range holds only zeros, checkShrink): the pointers past
 * the new last block set free (their blocks read zeros either way; one
 * write, fsync), the data blocks packed and the file cut (packBlocks), then
 * the header switched to the new size and block count (one sector, fsync).
 */
async function shrink(file: ImageFile, header: VdiHeader, map: BlockMap, size: number, newBlocks: number): Promise<void> {
  const cut = map.entries.subarray(newBlocks);
  if (cut.some((e) => e !== BLOCK_FREE)) {
    await file.write(encodeEntries(new Uint32Array(cut.length).fill(BLOCK_FREE)), header.blocksOffset + newBlocks * 4);
    await file.sync();
    cut.fill(BLOCK_FREE);
  }
  await packBlocks(file, header, map);
  await writeLayout(file, header, { diskSize: size, blocks: newBlocks });
}

/**
 * `vdisk resize` for VDI (dynamic and fixed; a differencing image keeps its
 * parent's size and is refused). The size is rounded up to 512 bytes;
 * shrinking needs `shrink` and a cut range of zeros. Every step is
 * crash-safe (see grow and shrink); running the resize again finishes it.
 */
export async function resizeVdi(path: string, requested: number, opts: ResizeOptions): Promise<ResizeResult> {
  const layer = await openVdiForChange(path, opts);
  try {
    const { file, header, blocks: map } = layer;
    if (header.type === 'diff') throw new DiskImageError('UNSUPPORTED', `${path}: cannot resize a differencing VDI (it keeps its parent's size); commit or convert it first`, { path });
    const max = (VDI_MAX_BLOCK_MAP_BYTES / 4) * header.blockSize;
    const size = roundNewSize(requested, SECTOR, max, `a VDI of ${header.blockSize}-byte blocks`, '; convert to larger blocks');
    const oldSize = header.diskSize;
    await checkShrink(layer, size, opts.shrink);
    const newBlocks = Math.ceil(size / header.blockSize);
    if (size > oldSize) await grow(file, header, map, size, newBlocks);
    else if (size < oldSize) await shrink(file, header, map, size, newBlocks);
    return { oldSize, newSize: size };
  } finally {
    await layer.close();
  }
}
