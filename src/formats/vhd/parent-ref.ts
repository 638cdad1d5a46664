import { formatUuid, uuidEqual } from '../../util/uuid.js';
import type { Layer, ParentRef } from '../layer.js';
import type { VhdLayout } from './layout.js';
import { parentCandidates } from './parent-locator.js';
import { VhdLayer } from './reader.js';

/** The UUID of a VHD layer (undefined for other formats). */
function vhdUuid(layer: Layer): Uint8Array | undefined {
  return layer instanceof VhdLayer ? layer.layout.footer.fields.uniqueId : undefined;
}

/**
 * How a differencing VHD names its parent: the locators and the header's
 * parent name lead to candidates; the parent's UUID must be the one in the
 * header, and its size the child's.
 */
export function vhdParentRef(layout: VhdLayout): ParentRef | undefined {
  const header = layout.header;
  if (layout.footer.diskType !== 'differencing' || !header) return undefined;
  const want = header.fields.parentUniqueId;
  return {
    candidates: parentCandidates(layout.locators, header.parentName),
    expected: `UUID ${formatUuid(want)} (name '${header.parentName}')`,
    identityOf: (p) => {
      const got = vhdUuid(p);
      return got && `UUID ${formatUuid(got)}`;
    },
    matches: (p) => {
      const got = vhdUuid(p);
      return got !== undefined && uuidEqual(got, want);
    },
    refuseSize: (size) => (size === layout.virtualSize ? undefined : `is ${size} bytes, the child ${layout.virtualSize}`),
  };
}
