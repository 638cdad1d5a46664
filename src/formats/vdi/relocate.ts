import { DiskImageError } from '../../errors.js';
import type { ImageFile } from '../../io/image-file.js';
import { copyWithinFile } from '../resize-common.js';
import type { OpenOptions } from '../types.js';
import { BlockMap } from './block-map.js';
import { BLOCKS_ALLOCATED_AT, PRE_HEADER_SIZE } from './constants.js';
import type { VdiHeader } from './header.js';
import { openVdi } from './open.js';
import type { VdiLayer } from './reader.js';

/**
 * In-place changes of a VDI (resize, compact): the header fields they
 * rewrite, data blocks moved crash-safely, and the data blocks packed so
 * that those in use are 0..n-1 again, as VirtualBox and qemu expect (both
 * append a new block at index cBlocksAllocated, VDIHDDCore.cpp
 * vdiWriteAllocated and qemu's block/vdi.c).
 */

/** File offset of VDIHEADER1.offBlocks: the pre-header plus 268 (VDICore.h VDIHEADER1). */
const OFF_BLOCKS_AT = PRE_HEADER_SIZE + 268;
/** File offset of VDIHEADER1.offData (VDICore.h VDIHEADER1, +272). */
const OFF_DATA_AT = PRE_HEADER_SIZE + 272;
/** File offset of VDIHEADER1.cbDisk, a u64 (VDICore.h VDIHEADER1, +296). */
const DISK_SIZE_AT = PRE_HEADER_SIZE + 296;
/** File offset of VDIHEADER1.cBlocks (VDICore.h VDIHEADER1, +312). */
const BLOCKS_AT = PRE_HEADER_SIZE + 312;

/** The header fields an in-place change may rewrite. */
export type LayoutFields = Pick<VdiHeader, 'blocksOffset' | 'dataOffset' | 'diskSize' | 'blocks' | 'blocksAllocated'>;

/**
 * Opens a VDI 1.1 for an in-place change (exclusive lock). Refuses an image
 * whose check finds corruption (two guest blocks sharing a data block): moving
 * blocks of such an image could lose data.
 */
export async function openVdiForChange(path: string, opts: OpenOptions): Promise<VdiLayer> {
  const layer = await openVdi(path, { ...opts, writable: true });
  try {
    for (const w of layer.warnings) opts.onWarning?.(`${path}: ${w}`);
    const broken = (await layer.check()).filter((f) => f.severity === 'corruption');
    if (broken.length > 0) throw new DiskImageError('CORRUPT', `${path}: ${broken[0]!.message}; run vdisk check --repair or convert it first`, { path, field: broken[0]!.code });
    return layer;
  } catch (err) {
    await layer.close();
    throw err;
  }
}

/**
 * Writes the changed layout fields in one write of bytes 340-391, inside the
 * first sector, so a power cut leaves all of them old or all new; then fsync.
 * Nothing is written when nothing changes.
 */
export async function writeLayout(file: ImageFile, header: VdiHeader, change: Partial<LayoutFields>): Promise<void> {
  const next: LayoutFields = { blocksOffset: header.blocksOffset, dataOffset: header.dataOffset, diskSize: header.diskSize, blocks: header.blocks, blocksAllocated: header.blocksAllocated, ...change };
  const same = (Object.keys(next) as (keyof LayoutFields)[]).every((k) => next[k] === header[k]);
  if (same) return;
  const bytes = new Uint8Array(BLOCKS_ALLOCATED_AT + 4 - OFF_BLOCKS_AT);
  await file.read(bytes, OFF_BLOCKS_AT);
  const view = new DataView(bytes.buffer);
  view.setUint32(OFF_BLOCKS_AT - OFF_BLOCKS_AT, next.blocksOffset, true);
  view.setUint32(OFF_DATA_AT - OFF_BLOCKS_AT, next.dataOffset, true);
  view.setBigUint64(DISK_SIZE_AT - OFF_BLOCKS_AT, BigInt(next.diskSize), true);
  view.setUint32(BLOCKS_AT - OFF_BLOCKS_AT, next.blocks, true);
  view.setUint32(BLOCKS_ALLOCATED_AT - OFF_BLOCKS_AT, next.blocksAllocated, true);
  await file.write(bytes, OFF_BLOCKS_AT);
  await file.sync();
  Object.assign(header, next);
}

/** Block pointers `values` encoded little-endian, as the block array stores them. */
export function encodeEntries(values: ArrayLike<number>): Uint8Array {
  const bytes = new Uint8Array(values.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < values.length; i++) view.setUint32(i * 4, values[i]!, true);
  return bytes;
}

/** Sets block pointer `block` to `value` in the file (one 4-byte write) and in memory; the caller fsyncs. */
export async function writeEntry(file: ImageFile, map: BlockMap, block: number, value: number): Promise<void> {
  await file.write(encodeEntries([value]), map.header.blocksOffset + block * 4);
  map.entries[block] = value;
}

/** One data block to move: guest block `block`'s data, from data block `from` to data block `to` (which no guest block uses). */
export interface BlockMove {
  block: number;
  from: number;
  to: number;
}

/**
 * Moves data blocks: every block copied whole (cbBlockExtra included) to its
 * new place, fsync; then every pointer set to the copy (4-byte writes),
 * fsync. A power cut leaves each pointer at the old or the new copy, which
 * hold the same bytes.
 */
export async function moveBlocks(file: ImageFile, map: BlockMap, moves: BlockMove[]): Promise<void> {
  if (moves.length === 0) return;
  const start = (index: number) => map.header.dataOffset + index * map.stride;
  for (const m of moves) await copyWithinFile(file, start(m.from), start(m.to), map.stride);
  await file.sync();
  for (const m of moves) await writeEntry(file, map, m.block, m.to);
  await file.sync();
}

/** The guest block that uses each data block in use. */
export function owners(map: BlockMap): Map<number, number> {
  const owner = new Map<number, number>();
  map.entries.forEach((e, b) => {
    if (BlockMap.allocated(e)) owner.set(e, b);
  });
  return owner;
}

/**
 * Packs the data blocks: the highest ones in use are moved into the lower
 * data blocks no guest block uses (moveBlocks), so the n blocks in use are
 * 0..n-1; then cBlocksAllocated is set to n (fsync) and the file cut after
 * data block n-1 (fsync), as VBoxManage modifyhd --compact does. The guest
 * view never changes.
 */
export async function packBlocks(file: ImageFile, header: VdiHeader, map: BlockMap): Promise<void> {
  const owner = owners(map);
  const n = owner.size;
  const holes: number[] = [];
  for (let i = 0; i < n; i++) if (!owner.has(i)) holes.push(i);
  const high = [...owner.keys()].filter((i) => i >= n).sort((a, b) => b - a);
  await moveBlocks(
    file,
    map,
    holes.map((to, k) => ({ block: owner.get(high[k]!)!, from: high[k]!, to })),
  );
  await writeLayout(file, header, { blocksAllocated: n });
  const end = header.dataOffset + n * map.stride;
  if (file.size > end) {
    await file.truncate(end);
    await file.sync();
  }
}
