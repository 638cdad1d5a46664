import { DiskImageError } from '../../errors.js';
import { formatGuidBraced, parseGuid } from '../../util/guid.js';
import { uuidEqual } from '../../util/uuid.js';
import type { Layer, ParentRef } from '../layer.js';
import type { VhdxLayout } from './layout.js';
import { vhdxParentCandidates } from './parent-locator.js';
import { VhdxLayer } from './reader.js';

/** The DataWriteGuid of a VHDX layer, which children record as parent_linkage (2.6.2.6). */
function dataWriteGuid(layer: Layer): Uint8Array | undefined {
  return layer instanceof VhdxLayer ? layer.layout.header.fields.dataWriteGuid : undefined;
}

/**
 * How a differencing VHDX names its parent (2.6.2.6): the locator's paths
 * lead to candidates; the parent's DataWriteGuid must be parent_linkage (or
 * parent_linkage2), and its size the child's. `CORRUPT` when the locator has
 * no valid linkage.
 */
export function vhdxParentRef(path: string, layout: VhdxLayout): ParentRef | undefined {
  const locator = layout.metadata.parentLocator;
  if (!layout.metadata.hasParent || !locator) return undefined;
  const linkage = [locator.get('parent_linkage'), locator.get('parent_linkage2')].flatMap((t) => (t && parseGuid(t) ? [parseGuid(t)!] : []));
  if (linkage.length === 0) throw new DiskImageError('CORRUPT', `${path}: VHDX parent locator has no valid parent_linkage GUID`, { field: 'parent_linkage' });
  const size = layout.metadata.virtualSize;
  return {
    candidates: vhdxParentCandidates(locator),
    expected: `parent linkage ${formatGuidBraced(linkage[0]!)} (DataWriteGuid)`,
    identityOf: (p) => {
      const g = dataWriteGuid(p);
      return g && `DataWriteGuid ${formatGuidBraced(g)}`;
    },
    matches: (p) => {
      const g = dataWriteGuid(p);
      return g !== undefined && linkage.some((l) => uuidEqual(l, g));
    },
    refuseSize: (got) => (got === size ? undefined : `is ${got} bytes, the child ${size}`),
  };
}
