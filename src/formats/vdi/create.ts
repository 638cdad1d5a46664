import { DiskImageError } from '../../errors.js';
import { openDiskFile } from '../../io/file.js';
import { zeroPastEnd } from '../../io/zero-past-end.js';
import { MetadataBudget } from '../../util/metadata-budget.js';
import { isPowerOfTwo, roundUp } from '../../util/checked.js';
import { parseSize } from '../../util/sizes.js';
import { encodeStruct } from '../../util/struct.js';
import { parseUuid, randomUuid } from '../../util/uuid.js';
import { preallocate, wantsPreallocation } from '../preallocation.js';
import type { CreateOptions } from '../types.js';
import { BlockMap } from './block-map.js';
import { BLOCK_FREE, COMMENT_SIZE, DATA_ALIGN, DEFAULT_BLOCK_SIZE, FILE_INFO, FILE_INFO_SIZE, HEADER1PLUS_SIZE, PRE_HEADER_SIZE, SECTOR, TYPE_DIFF, TYPE_FIXED, TYPE_NORMAL, VDI_SIGNATURE, VERSION_1_1 } from './constants.js';
import { HEADER1, parseVdiHeader, PRE_HEADER } from './header.js';
import { vdiParentRef } from './parent-ref.js';
import { VdiLayer } from './reader.js';
import { WritableVdiLayer } from './writer.js';
import { VDI_MAX_BLOCK_MAP_BYTES, VDI_MAX_BLOCK_SIZE } from '../../limits.js';

/** `-o` options `vdisk create -f vdi` accepts. */
export const VDI_CREATE_OPTIONS = ['subformat', 'block_size', 'preallocation'] as const;

/** Smallest block_size vdisk writes (VirtualBox and qemu use 1 MiB; other powers of two are for tests and special needs). */
export const MIN_WRITE_BLOCK = 64 * 1024;

/** Where a new VDI of `size` bytes in `blockSize` blocks puts its parts: the block array at 1 MiB, the data at the next MiB (VDI_DATA_ALIGN). */
export function newLayout(size: number, blockSize: number): { blocks: number; blocksOffset: number; dataOffset: number } {
  const blocks = Math.ceil(size / blockSize);
  if (blocks * 4 > VDI_MAX_BLOCK_MAP_BYTES) throw new DiskImageError('USAGE', `block_size ${blockSize} is too small for a ${size}-byte VDI (over ${VDI_MAX_BLOCK_MAP_BYTES / 4} blocks)`);
  const blocksOffset = roundUp(PRE_HEADER_SIZE + HEADER1PLUS_SIZE, DATA_ALIGN);
  return { blocks, blocksOffset, dataOffset: roundUp(blocksOffset + blocks * 4, DATA_ALIGN) };
}

/** The `-o block_size` of a new VDI (default 1 MiB). */
export function blockSizeOption(text: string | undefined): number {
  const bs = text === undefined ? DEFAULT_BLOCK_SIZE : parseSize(text);
  if (!isPowerOfTwo(bs) || bs < MIN_WRITE_BLOCK || bs > VDI_MAX_BLOCK_SIZE) throw new DiskImageError('USAGE', `VDI block_size must be a power of two from 64K to 256M, not ${text}`, { value: text });
  return bs;
}

/** The VDIHEADER1PLUS fields of a new image; geometry left zero (VirtualBox fills it in at first use), sector size 512. */
function headerFields(type: number, size: number, blockSize: number, blocks: number, blocksOffset: number, dataOffset: number, uuid: Uint8Array, parent?: VdiLayer) {
  return {
    headerSize: HEADER1PLUS_SIZE,
    type,
    flags: 0,
    comment: new Uint8Array(COMMENT_SIZE),
    blocksOffset,
    dataOffset,
    cylinders: 0,
    heads: 0,
    sectors: 0,
    sectorSize: SECTOR,
    dummy: 0,
    diskSize: BigInt(size),
    blockSize,
    blockExtra: 0,
    blocks,
    blocksAllocated: type === TYPE_FIXED ? blocks : 0,
    uuidCreate: uuid,
    uuidModify: randomUuid(),
    uuidLinkage: parent ? parent.header.uuidCreate : new Uint8Array(16),
    uuidParentModify: parent ? parent.header.uuidModify : new Uint8Array(16),
    lchsCylinders: 0,
    lchsHeads: 0,
    lchsSectors: 0,
    lchsSectorSize: SECTOR,
  };
}

/**
 * Creates a new VDI 1.1 as VirtualBox lays it out (VDICore.h
 * VDI_DATA_ALIGN): pre-header and header, the block array at 1 MiB, the
 * data at the next MiB. Dynamic (every block free), fixed (every block
 * allocated in order, the file sparse unless preallocation=full) or, with a
 * VDI parent, differencing. The file must not exist.
 */
export async function createVdi(path: string, opts: CreateOptions): Promise<WritableVdiLayer> {
  const size = roundUp(opts.virtualSize, SECTOR);
  if (size <= 0) throw new DiskImageError('USAGE', 'VDI size must be positive');
  const parent = opts.parent?.layer;
  const sub = opts.options.subformat ?? 'dynamic';
  if (!parent && sub !== 'fixed' && sub !== 'dynamic') throw new DiskImageError('USAGE', `VDI subformat must be dynamic or fixed, not '${sub}'`);
  if (parent && !(parent instanceof VdiLayer)) throw new DiskImageError('UNSUPPORTED', `a differencing VDI needs a VDI parent, not ${parent.format}`);
  if (parent && parent.virtualSize !== size) throw new DiskImageError('USAGE', `a differencing VDI has its parent's size (${parent.virtualSize}), not ${size}`);
  const type = parent ? TYPE_DIFF : sub === 'fixed' ? TYPE_FIXED : TYPE_NORMAL;
  const full = wantsPreallocation(opts.options, type === TYPE_FIXED, 'vdi');
  const blockSize = parent ? parent.header.blockSize : blockSizeOption(opts.options.block_size);
  const { blocks, blocksOffset, dataOffset } = newLayout(size, blockSize);
  const uuid = (opts.uuid && parseUuid(opts.uuid)) || randomUuid();
  const head = new Uint8Array(PRE_HEADER_SIZE + HEADER1PLUS_SIZE);
  encodeStruct(PRE_HEADER, { fileInfo: FILE_INFO.padEnd(FILE_INFO_SIZE, '\0'), signature: VDI_SIGNATURE, version: VERSION_1_1 }, head);
  encodeStruct(HEADER1, headerFields(type, size, blockSize, blocks, blocksOffset, dataOffset, uuid, parent as VdiLayer | undefined), head, PRE_HEADER_SIZE);
  const map = new Uint8Array(blocks * 4);
  const view = new DataView(map.buffer);
  for (let i = 0; i < blocks; i++) view.setUint32(i * 4, type === TYPE_FIXED ? i : BLOCK_FREE, true);
  const file = await (opts.openFile ?? openDiskFile)(path, 'create');
  try {
    await file.write(head, 0);
    await file.write(map, blocksOffset);
    const end = type === TYPE_FIXED ? dataOffset + blocks * blockSize : dataOffset;
    await file.truncate(end);
    if (full) await preallocate(file, dataOffset, blocks * blockSize);
    await file.sync();
    const header = parseVdiHeader(path, head);
    const warnings: string[] = [];
    const blockMap = await BlockMap.read(file, header, zeroPastEnd(file), warnings, new MetadataBudget(path));
    return new WritableVdiLayer(file, header, blockMap, warnings, parent ? vdiParentRef(header) : undefined);
  } catch (err) {
    await file.close();
    throw err;
  }
}
