import type { DiskImage, ExtentKind } from '../formats/types.js';
import { NBD_STATE_HOLE, NBD_STATE_ZERO } from './constants.js';

/** One block status descriptor: a length and its base:allocation flags (proto.md, "Structured reply types", NBD_REPLY_TYPE_BLOCK_STATUS). */
export interface StatusDescriptor {
  length: number;
  flags: number;
}

/**
 * The base:allocation flags of an extent kind (proto.md, "`base:allocation`
 * metadata context"): stored nowhere in the chain is a hole reading as
 * zeros; known zeros that a layer stores (or a sparse file's hole) read as
 * zeros; data is allocated with unknown contents.
 */
export function allocationFlags(kind: ExtentKind): number {
  switch (kind) {
    case 'unallocated':
      return NBD_STATE_HOLE | NBD_STATE_ZERO;
    case 'zero':
      return NBD_STATE_ZERO;
    case 'data':
      return 0;
  }
}

/**
 * The base:allocation descriptors of [offset, offset+length) of the guest
 * view, from the chain's extents: consecutive extents with the same flags
 * (data at different depths) merged, at most `limit` descriptors (the client
 * asks again from where they stop).
 */
export async function allocationDescriptors(image: DiskImage, offset: number, length: number, limit: number): Promise<StatusDescriptor[]> {
  const out: StatusDescriptor[] = [];
  for await (const e of image.extents({ offset, length })) {
    const flags = allocationFlags(e.kind);
    const last = out[out.length - 1];
    if (last && last.flags === flags) last.length += e.length;
    else if (out.length === limit) break;
    else out.push({ length: e.length, flags });
  }
  return out;
}
