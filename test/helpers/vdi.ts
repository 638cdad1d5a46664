import { encodeStruct, type Decoded } from '../../src/util/struct.js';
import { BLOCK_FREE, BLOCK_ZERO, FILE_INFO, HEADER1PLUS_SIZE, PRE_HEADER_SIZE, TYPE_DIFF, TYPE_NORMAL, VDI_SIGNATURE, VERSION_1_1 } from '../../src/formats/vdi/constants.js';
import { HEADER1, PRE_HEADER } from '../../src/formats/vdi/header.js';

/** What a block of a hand-built VDI holds: its bytes (a whole block), zeros (BLOCK_ZERO), or nothing (BLOCK_FREE). */
export type VdiBlock = Uint8Array | 'zero' | 'free';

/** A version 1.1 VDI to build byte by byte (VDICore.h VDIHEADER1PLUS), for tests of what qemu-img cannot make: differencing images, odd block sizes, block extra, damage. */
export interface VdiSpec {
  diskSize: number;
  blockSize?: number;
  blockExtra?: number;
  type?: number;
  uuidCreate: Uint8Array;
  uuidLinkage?: Uint8Array;
  /** Block contents by guest block; missing blocks are free. Data blocks are stored in guest order. */
  blocks?: Map<number, VdiBlock>;
  /** Overrides of header fields after the rest is computed (damage). */
  patch?: Partial<Decoded<typeof HEADER1.fields>>;
}

/** Builds the file: pre-header, header, block array at 512, data at the next 512-byte boundary. */
export function buildVdi(spec: VdiSpec): Uint8Array {
  const blockSize = spec.blockSize ?? 1024 * 1024;
  const extra = spec.blockExtra ?? 0;
  const count = Math.ceil(spec.diskSize / blockSize);
  const blocksOffset = 512;
  const dataOffset = Math.ceil((blocksOffset + count * 4) / 512) * 512;
  const data: Uint8Array[] = [];
  const map = new Uint32Array(count).fill(BLOCK_FREE);
  for (const [i, b] of spec.blocks ?? []) {
    if (b === 'zero') map[i] = BLOCK_ZERO;
    else if (b !== 'free') {
      map[i] = data.length;
      data.push(b);
    }
  }
  const stride = blockSize + extra;
  const out = new Uint8Array(dataOffset + data.length * stride);
  encodeStruct(PRE_HEADER, { fileInfo: FILE_INFO.padEnd(64, '\0'), signature: VDI_SIGNATURE, version: VERSION_1_1 }, out);
  const fields: Decoded<typeof HEADER1.fields> = {
    headerSize: HEADER1PLUS_SIZE,
    type: spec.type ?? (spec.uuidLinkage ? TYPE_DIFF : TYPE_NORMAL),
    flags: 0,
    comment: new Uint8Array(256),
    blocksOffset,
    dataOffset,
    cylinders: 0,
    heads: 0,
    sectors: 0,
    sectorSize: 512,
    dummy: 0,
    diskSize: BigInt(spec.diskSize),
    blockSize,
    blockExtra: extra,
    blocks: count,
    blocksAllocated: data.length,
    uuidCreate: spec.uuidCreate,
    uuidModify: spec.uuidCreate,
    uuidLinkage: spec.uuidLinkage ?? new Uint8Array(16),
    uuidParentModify: new Uint8Array(16),
    lchsCylinders: 0,
    lchsHeads: 0,
    lchsSectors: 0,
    lchsSectorSize: 512,
    ...spec.patch,
  };
  encodeStruct(HEADER1, fields, out, PRE_HEADER_SIZE);
  const view = new DataView(out.buffer);
  map.forEach((e, i) => view.setUint32(blocksOffset + i * 4, e, true));
  data.forEach((b, k) => out.set(b, dataOffset + k * stride + extra));
  return out;
}
