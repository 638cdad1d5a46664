import { NO_PARENT_CID } from './constants.js';
import type { Descriptor } from './descriptor.js';

/** A CID as the descriptor writes it: 8 lowercase hex digits. */
export function cidText(cid: number): string {
  return cid.toString(16).padStart(8, '0');
}

/**
 * `ddb.uuid` ("The Disk Database": 16 hex bytes separated by spaces and a
 * dash, "60 00 C2 9b ... -74 c4 ...") in the usual 8-4-4-4-12 form, or
 * undefined when absent or not 16 bytes.
 */
export function ddbUuid(d: Descriptor): string | undefined {
  const hex = (d.ddb.uuid ?? '').replace(/[\s-]/g, '').toLowerCase();
  if (!/^[0-9a-f]{32}$/.test(hex)) return undefined;
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The descriptor's fields for `info --json`: create type, CIDs, parent hint and the disk database keys vdisk knows. */
export function describeDescriptor(d: Descriptor): Record<string, unknown> {
  const geometry = ['cylinders', 'heads', 'sectors'].map((k) => d.ddb[`geometry.${k}`]);
  return {
    createType: d.createType,
    descriptorVersion: d.version,
    cid: cidText(d.cid),
    parentCid: cidText(d.parentCid),
    ...(d.parentCid !== NO_PARENT_CID && { parentFileNameHint: d.parentFileNameHint }),
    ...(d.nextParentCid !== undefined && { nextParentCid: cidText(d.nextParentCid) }),
    adapterType: d.ddb.adapterType,
    ...(geometry.every((g) => g !== undefined) && { geometry: { cylinders: Number(geometry[0]), heads: Number(geometry[1]), sectors: Number(geometry[2]) } }),
    ddbUuid: d.ddb.uuid,
    longContentID: d.ddb.longContentID,
    toolsVersion: d.ddb.toolsVersion,
    virtualHWVersion: d.ddb.virtualHWVersion,
  };
}
