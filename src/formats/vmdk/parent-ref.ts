import type { Layer, ParentRef } from '../layer.js';
import { NO_PARENT_CID } from './constants.js';
import type { Descriptor } from './descriptor.js';
import { cidText } from './describe.js';
import { VmdkLayer } from './reader.js';

/** The CID of a VMDK layer (undefined for other formats, or a VMDK without a descriptor). */
function vmdkCid(layer: Layer): number | undefined {
  return layer instanceof VmdkLayer ? layer.cid : undefined;
}

/**
 * How a VMDK delta names its parent ("The Descriptor File", Header:
 * parentCID and parentFileNameHint): the hint is the one candidate path, and
 * the parent's CID must be the child's parentCID (or, during a commit into
 * the parent, the CID recorded under NEXT_PARENT_CID_KEY). A parent may be smaller
 * than the child (the rest reads as zeros), not larger.
 */
export function vmdkParentRef(d: Descriptor | undefined, virtualSize: number): ParentRef | undefined {
  if (!d || d.parentCid === NO_PARENT_CID) return undefined;
  const hint = d.parentFileNameHint;
  return {
    candidates: hint ? [{ source: 'parentFileNameHint', path: hint }] : [],
    expected: `CID ${cidText(d.parentCid)}${hint ? ` (parentFileNameHint '${hint}')` : ''}`,
    identityOf: (p) => {
      const cid = vmdkCid(p);
      return cid === undefined ? undefined : `CID ${cidText(cid)}`;
    },
    matches: (p) => {
      const cid = vmdkCid(p);
      return cid === d.parentCid || (cid !== undefined && cid === d.nextParentCid);
    },
    refuseSize: (size) => (size <= virtualSize ? undefined : `is ${size} bytes, larger than the child's ${virtualSize}`),
  };
}
