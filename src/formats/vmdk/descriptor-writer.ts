import { DiskImageError } from '../../errors.js';
import { parseUuid, randomUuid } from '../../util/uuid.js';
import { DESCRIPTOR_SIGNATURE, NEXT_PARENT_CID_KEY, NO_PARENT_CID, SECTOR } from './constants.js';
import type { ExtentType } from './descriptor.js';
import { cidText } from './describe.js';

/** Adapter types `ddb.adapterType` takes ("The Disk Database": ide, buslogic, lsilogic, legacyESX; pvscsi since ESX 4). */
export const ADAPTER_TYPES = ['ide', 'buslogic', 'lsilogic', 'legacyESX', 'pvscsi'] as const;

/** One of ADAPTER_TYPES. */
export type AdapterType = (typeof ADAPTER_TYPES)[number];

/** The adapter vdisk names when not told: lsilogic, what ESXi and Workstation offer first for most guests (issue 14). */
const DEFAULT_ADAPTER: AdapterType = 'lsilogic';

/**
 * `ddb.virtualHWVersion` vdisk writes when not told: 4, the oldest version
 * every VMware product opens (the disk works in any newer virtual machine);
 * pvscsi needs virtual hardware 7, where VMware introduced it.
 */
function defaultHwVersion(adapter: AdapterType): string {
  return adapter === 'pvscsi' ? '7' : '4';
}

/**
 * `ddb.toolsVersion` vdisk writes: 2147483647, INT32_MAX, the value VMware
 * and qemu-img write for a disk no VMware Tools installation has touched.
 */
const TOOLS_VERSION = '2147483647';

/** One extent line vdisk writes ("Extent Descriptions"): RW, sectors, type, file, offset for FLAT. */
export interface NewExtentLine {
  sectors: number;
  type: ExtentType;
  file: string;
  offset?: number;
}

/** Everything a descriptor vdisk writes says. */
export interface DescriptorFields {
  cid: number;
  parentCid: number;
  parentFileNameHint?: string;
  createType: string;
  extents: NewExtentLine[];
  adapterType: AdapterType;
  hwVersion: string;
  cylinders: number;
  heads: number;
  sectors: number;
  /** `ddb.uuid` as 16 bytes. */
  uuid: Uint8Array;
  /** `ddb.longContentID`: 32 hex digits. */
  longContentId: string;
}

/**
 * The BIOS geometry VMware records ("The Disk Database", ddb.geometry): IDE
 * disks 16 heads, 63 sectors, at most 16383 cylinders (ATA's limit); SCSI
 * disks 255 heads, 63 sectors and as many cylinders as the size needs. At
 * least one cylinder.
 */
export function geometryFor(sectors: number, adapter: AdapterType): { cylinders: number; heads: number; sectors: number } {
  const heads = adapter === 'ide' ? 16 : 255;
  const cylinders = Math.max(1, Math.floor(sectors / (heads * 63)));
  return { cylinders: adapter === 'ide' ? Math.min(16383, cylinders) : cylinders, heads, sectors: 63 };
}

/** A content ID and the `ddb.longContentID` paired with it. */
export interface ContentIds {
  cid: number;
  longContentId: string;
}

/**
 * A new content ID and `ddb.longContentID`: 128 random bits whose last 32
 * are the CID, as VMware pairs them. Never NO_PARENT_CID (0xffffffff) or
 * 0xfffffffe (VMware's "content not yet known").
 */
export function newContentIds(): ContentIds {
  for (;;) {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    const cid = new DataView(bytes.buffer).getUint32(12);
    if (cid < 0xfffffffe) return { cid, longContentId: Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('') };
  }
}

/** The `adapter_type` option: one of ADAPTER_TYPES (default lsilogic), else USAGE. */
export function adapterOption(text: string | undefined): AdapterType {
  if (text === undefined) return DEFAULT_ADAPTER;
  const a = ADAPTER_TYPES.find((x) => x === text);
  if (!a) throw new DiskImageError('USAGE', `VMDK adapter_type must be ${ADAPTER_TYPES.join(', ')}, not '${text}'`, { value: text });
  return a;
}

/** The `hwversion` option: a virtual hardware version from 4 to 21 (default 4, 7 for pvscsi), else USAGE. */
function hwVersionOption(text: string | undefined, adapter: AdapterType): string {
  if (text === undefined) return defaultHwVersion(adapter);
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 4 || n > 21) throw new DiskImageError('USAGE', `VMDK hwversion must be a number from 4 to 21, not '${text}'`, { value: text });
  return text;
}

/**
 * The descriptor of a new disk of `sectors` sectors: fresh content IDs and
 * `ddb.uuid` (`uuid` for --keep-uuid), the adapter and hardware version
 * from `options`, the geometry for the adapter.
 */
export function newDescriptor(createType: string, sectors: number, extents: NewExtentLine[], options: Record<string, string>, uuid?: string): DescriptorFields {
  const adapterType = adapterOption(options.adapter_type);
  return {
    ...newContentIds(),
    parentCid: NO_PARENT_CID,
    createType,
    extents,
    adapterType,
    hwVersion: hwVersionOption(options.hwversion, adapterType),
    ...geometryFor(sectors, adapterType),
    uuid: (uuid && parseUuid(uuid)) || randomUuid(),
  };
}

/** `ddb.uuid` text ("The Disk Database"): 16 hex bytes, space separated, a dash between the 8th and the 9th. */
function ddbUuidText(uuid: Uint8Array): string {
  const hex = [...uuid].map((b) => b.toString(16).padStart(2, '0'));
  return `${hex.slice(0, 8).join(' ')}-${hex.slice(8).join(' ')}`;
}

/** A quoted descriptor value; a double quote or a control character cannot be written, so it is a USAGE error. */
function quoted(value: string): string {
  if (/["\p{Cc}]/u.test(value)) throw new DiskImageError('USAGE', `a VMDK descriptor cannot hold the name '${value}' (quotes or control characters)`, { value });
  return `"${value}"`;
}

/**
 * The descriptor's text ("The Descriptor File"): header (version 1, UTF-8,
 * CIDs, createType, parentFileNameHint for a delta), one extent line each,
 * then the disk database.
 */
export function encodeDescriptor(d: DescriptorFields): string {
  const lines = [
    DESCRIPTOR_SIGNATURE,
    'version=1',
    'encoding="UTF-8"',
    `CID=${cidText(d.cid)}`,
    `parentCID=${cidText(d.parentCid)}`,
    `createType=${quoted(d.createType)}`,
    ...(d.parentFileNameHint !== undefined ? [`parentFileNameHint=${quoted(d.parentFileNameHint)}`] : []),
    '',
    '# Extent description',
    ...d.extents.map((e) => `RW ${e.sectors} ${e.type} ${quoted(e.file)}${e.offset !== undefined ? ` ${e.offset}` : ''}`),
    '',
    '# The Disk Data Base',
    '#DDB',
    '',
    `ddb.adapterType = ${quoted(d.adapterType)}`,
    `ddb.geometry.cylinders = "${d.cylinders}"`,
    `ddb.geometry.heads = "${d.heads}"`,
    `ddb.geometry.sectors = "${d.sectors}"`,
    `ddb.longContentID = "${d.longContentId}"`,
    `ddb.toolsVersion = "${TOOLS_VERSION}"`,
    `ddb.uuid = "${ddbUuidText(d.uuid)}"`,
    `ddb.virtualHWVersion = "${d.hwVersion}"`,
    '',
  ];
  return lines.join('\n');
}

/** The descriptor's text as bytes padded with NULs to whole sectors, at least `minSectors` of them (an embedded descriptor's area). */
export function descriptorSectors(d: DescriptorFields, minSectors: number): Uint8Array {
  const text = Buffer.from(encodeDescriptor(d), 'utf8');
  const out = new Uint8Array(Math.max(minSectors * SECTOR, Math.ceil(text.length / SECTOR) * SECTOR));
  out.set(text);
  return out;
}

/**
 * A descriptor's text with its parentCID and parentFileNameHint replaced
 * (the hint goes right after parentCID) and, with `nextParentCid`, the
 * NEXT_PARENT_CID_KEY line set (at the end), else removed; CORRUPT without a
 * parentCID line.
 */
export function withParent(text: string, parentCid: number, hint: string, nextParentCid?: number): string {
  const nextKey = new RegExp(`^\\s*ddb\\.${NEXT_PARENT_CID_KEY.replace('.', '\\.')}\\s*=`);
  const lines = text.split('\n').filter((l) => !/^\s*parentFileNameHint\s*=/.test(l) && !nextKey.test(l));
  const at = lines.findIndex((l) => /^\s*parentCID\s*=/.test(l));
  if (at < 0) throw new DiskImageError('CORRUPT', 'VMDK descriptor: no parentCID line to rewrite');
  lines.splice(at, 1, `parentCID=${cidText(parentCid)}`, `parentFileNameHint=${quoted(hint)}`);
  if (nextParentCid !== undefined) {
    while (lines.length > 0 && lines[lines.length - 1]!.trim() === '') lines.pop();
    lines.push(`ddb.${NEXT_PARENT_CID_KEY} = "${cidText(nextParentCid)}"`, '');
  }
  return lines.join('\n');
}

/**
 * A descriptor's text with new content IDs: the CID line (added after the
 * version line when missing) and `ddb.longContentID` when present. The CID
 * keeps its 8 hex digits, so a descriptor in place keeps its length.
 */
export function withContentIds(text: string, ids: ContentIds): string {
  // A line keeps its CR when the descriptor has CRLF line ends.
  const keepEnd = (l: string, line: string) => line + (l.endsWith('\r') ? '\r' : '');
  const lines = text.split('\n').map((l) => (/^\s*ddb\.longContentID\s*=/.test(l) ? keepEnd(l, `ddb.longContentID = "${ids.longContentId}"`) : l));
  const cidLine = `CID=${cidText(ids.cid)}`;
  const at = lines.findIndex((l) => /^\s*CID\s*=/.test(l));
  if (at >= 0) lines[at] = keepEnd(lines[at]!, cidLine);
  else lines.splice(lines.findIndex((l) => /^\s*version\s*=/.test(l)) + 1, 0, cidLine);
  return lines.join('\n');
}
