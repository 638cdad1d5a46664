import { DiskImageError } from '../../errors.js';
import { u64ToNumber } from '../../util/checked.js';
import { decodeStruct, defineStruct, encodeStruct, type Decoded } from '../../util/struct.js';
import { formatUuid } from '../../util/uuid.js';
import { vhdChecksum } from './checksum.js';
import { DiskType, FOOTER_COOKIE, FOOTER_SIZE, NO_DATA_OFFSET, VHD_EPOCH } from './constants.js';
import type { Geometry } from './geometry.js';

/** Hard disk footer layout, big-endian (VHD spec, Appendix A, "Hard Disk Footer Format"). */
export const FOOTER_LAYOUT = defineStruct('vhd footer', FOOTER_SIZE, 'be', {
  cookie: { offset: 0, type: 'ascii', length: 8 },
  features: { offset: 8, type: 'u32' },
  formatVersion: { offset: 12, type: 'u32' },
  dataOffset: { offset: 16, type: 'u64' },
  timestamp: { offset: 24, type: 'u32' },
  creatorApp: { offset: 28, type: 'ascii', length: 4 },
  creatorVersion: { offset: 32, type: 'u32' },
  creatorHostOs: { offset: 36, type: 'u32' },
  originalSize: { offset: 40, type: 'u64' },
  currentSize: { offset: 48, type: 'u64' },
  cylinders: { offset: 56, type: 'u16' },
  heads: { offset: 58, type: 'u8' },
  sectorsPerTrack: { offset: 59, type: 'u8' },
  diskType: { offset: 60, type: 'u32' },
  checksum: { offset: 64, type: 'u32' },
  uniqueId: { offset: 68, type: 'bytes', length: 16 },
  savedState: { offset: 84, type: 'u8' },
});

/** Offset of the checksum field in the footer. */
export const FOOTER_CHECKSUM_OFFSET = FOOTER_LAYOUT.fields.checksum.offset;

/** The raw footer fields. */
export type FooterFields = Decoded<typeof FOOTER_LAYOUT.fields>;

/** A decoded footer with its sizes as numbers and whether its checksum held. */
export interface Footer {
  fields: FooterFields;
  diskType: 'fixed' | 'dynamic' | 'differencing';
  currentSize: number;
  originalSize: number;
  /** Offset of the dynamic header, or undefined for a fixed disk. */
  dataOffset: number | undefined;
  geometry: Geometry;
  checksumValid: boolean;
  /** The checksum the footer should carry. */
  expectedChecksum: number;
}

/** True when the 512 bytes start with the footer cookie. */
export function hasFooterCookie(buf: Uint8Array): boolean {
  return buf.length >= 8 && Buffer.from(buf.buffer, buf.byteOffset, 8).toString('latin1') === FOOTER_COOKIE;
}

/**
 * Decodes and validates a footer. A wrong checksum does not throw (the caller
 * decides: warn and read, or report in `check`); a wrong cookie, an unknown
 * disk type or a size past 2^53 does.
 */
export function decodeFooter(buf: Uint8Array, where: string): Footer {
  if (!hasFooterCookie(buf)) {
    throw new DiskImageError('INVALID_FORMAT', `no VHD footer (cookie 'conectix') at ${where}`, { where });
  }
  const fields = decodeStruct(FOOTER_LAYOUT, buf);
  const typeName = (Object.keys(DiskType) as (keyof typeof DiskType)[]).find((k) => DiskType[k] === fields.diskType);
  if (typeName === undefined || typeName === 'none') {
    throw new DiskImageError('UNSUPPORTED', `VHD footer at ${where}: disk type ${fields.diskType} is not fixed (2), dynamic (3) or differencing (4)`, {
      field: 'diskType',
      value: fields.diskType,
    });
  }
  const expectedChecksum = vhdChecksum(buf.subarray(0, FOOTER_SIZE), FOOTER_CHECKSUM_OFFSET);
  const isFixed = typeName === 'fixed';
  return {
    fields,
    diskType: typeName,
    currentSize: u64ToNumber(fields.currentSize, 'footer current size'),
    originalSize: u64ToNumber(fields.originalSize, 'footer original size'),
    dataOffset: isFixed || fields.dataOffset === NO_DATA_OFFSET ? undefined : u64ToNumber(fields.dataOffset, 'footer data offset'),
    geometry: { cylinders: fields.cylinders, heads: fields.heads, sectorsPerTrack: fields.sectorsPerTrack },
    checksumValid: expectedChecksum === fields.checksum,
    expectedChecksum,
  };
}

/** Encodes footer fields into 512 bytes with a fresh checksum. */
export function encodeFooter(fields: FooterFields): Uint8Array {
  const buf = new Uint8Array(FOOTER_SIZE);
  encodeStruct(FOOTER_LAYOUT, { ...fields, checksum: 0 }, buf);
  new DataView(buf.buffer).setUint32(FOOTER_CHECKSUM_OFFSET, vhdChecksum(buf, FOOTER_CHECKSUM_OFFSET));
  return buf;
}

/** VHD timestamp (seconds since 2000-01-01 UTC) for a JS Date. */
export function vhdTimestamp(date: Date): number {
  return Math.max(0, Math.floor(date.getTime() / 1000) - VHD_EPOCH) >>> 0;
}

/** ISO date for a VHD timestamp. */
export function timestampToIso(ts: number): string {
  return new Date((ts + VHD_EPOCH) * 1000).toISOString();
}

/** Footer facts for `info --json`. */
export function describeFooter(f: Footer): Record<string, unknown> {
  return {
    diskType: f.diskType,
    creatorApplication: f.fields.creatorApp.replace(/\0+$/, ''),
    creatorVersion: `${f.fields.creatorVersion >>> 16}.${f.fields.creatorVersion & 0xffff}`,
    creatorHostOs: hostOsName(f.fields.creatorHostOs),
    timestamp: timestampToIso(f.fields.timestamp),
    originalSize: f.originalSize,
    currentSize: f.currentSize,
    dataOffset: f.dataOffset,
    geometry: f.geometry,
    features: f.fields.features,
    savedState: f.fields.savedState !== 0,
    footerChecksumValid: f.checksumValid,
    uuid: formatUuid(f.fields.uniqueId),
  };
}

function hostOsName(code: number): string {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(code);
  return b.toString('latin1').replace(/\0+$/, '');
}
