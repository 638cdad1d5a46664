import { DiskImageError } from '../../errors.js';
import { isPowerOfTwo, u64ToNumber } from '../../util/checked.js';
import { decodeStruct, defineStruct, encodeStruct, type Decoded } from '../../util/struct.js';
import { vhdChecksum } from './checksum.js';
import { HEADER_COOKIE, HEADER_SIZE, LOCATOR_COUNT, SECTOR } from './constants.js';

/** Dynamic disk header layout, big-endian (VHD spec, Appendix A, "Dynamic Disk Header Format"). */
export const HEADER_LAYOUT = defineStruct('vhd dynamic header', HEADER_SIZE, 'be', {
  cookie: { offset: 0, type: 'ascii', length: 8 },
  dataOffset: { offset: 8, type: 'u64' },
  tableOffset: { offset: 16, type: 'u64' },
  headerVersion: { offset: 24, type: 'u32' },
  maxTableEntries: { offset: 28, type: 'u32' },
  blockSize: { offset: 32, type: 'u32' },
  checksum: { offset: 36, type: 'u32' },
  parentUniqueId: { offset: 40, type: 'bytes', length: 16 },
  parentTimestamp: { offset: 56, type: 'u32' },
  parentUnicodeName: { offset: 64, type: 'bytes', length: 512 },
});

/** Parent locator entry layout, 24 bytes, eight of them from offset 576 (Appendix A, "Parent Locator Entries"). */
export const LOCATOR_LAYOUT = defineStruct('vhd parent locator entry', 24, 'be', {
  platformCode: { offset: 0, type: 'u32' },
  platformDataSpace: { offset: 4, type: 'u32' },
  platformDataLength: { offset: 8, type: 'u32' },
  platformDataOffset: { offset: 16, type: 'u64' },
});

/** Offset of the first parent locator entry in the header. */
export const LOCATORS_OFFSET = 576;

const CHECKSUM_OFFSET = HEADER_LAYOUT.fields.checksum.offset;

/** Raw header fields. */
export type HeaderFields = Decoded<typeof HEADER_LAYOUT.fields>;

/** One parent locator entry as stored. */
export type LocatorEntry = Decoded<typeof LOCATOR_LAYOUT.fields>;

/** A decoded dynamic header. */
export interface DynamicHeader {
  fields: HeaderFields;
  tableOffset: number;
  blockSize: number;
  maxTableEntries: number;
  /** The parent's file name from the header (UTF-16BE), empty when none. */
  parentName: string;
  locators: LocatorEntry[];
  checksumValid: boolean;
  expectedChecksum: number;
}

/**
 * Decodes the dynamic header and checks what reading depends on: cookie, a
 * block size that is a power of two and a whole number of sectors, a
 * sector-aligned table offset. The checksum is reported, not enforced.
 */
export function decodeDynamicHeader(buf: Uint8Array, offset: number): DynamicHeader {
  const fields = decodeStruct(HEADER_LAYOUT, buf);
  if (fields.cookie !== HEADER_COOKIE) {
    throw new DiskImageError('CORRUPT', `no dynamic disk header (cookie 'cxsparse') at offset ${offset}`, { field: 'cookie', offset });
  }
  const { blockSize } = fields;
  if (!isPowerOfTwo(blockSize) || blockSize < SECTOR) {
    throw new DiskImageError('CORRUPT', `dynamic header block size ${blockSize} is not a power of two of at least 512`, {
      field: 'blockSize',
      value: blockSize,
    });
  }
  const tableOffset = u64ToNumber(fields.tableOffset, 'dynamic header table offset');
  if (tableOffset % SECTOR !== 0) {
    throw new DiskImageError('CORRUPT', `BAT offset ${tableOffset} is not sector-aligned`, { field: 'tableOffset', value: tableOffset });
  }
  const locators: LocatorEntry[] = [];
  for (let i = 0; i < LOCATOR_COUNT; i++) locators.push(decodeStruct(LOCATOR_LAYOUT, buf, LOCATORS_OFFSET + i * 24));
  const expectedChecksum = vhdChecksum(buf.subarray(0, HEADER_SIZE), CHECKSUM_OFFSET);
  return {
    fields,
    tableOffset,
    blockSize,
    maxTableEntries: fields.maxTableEntries,
    parentName: decodeParentName(fields.parentUnicodeName),
    locators,
    checksumValid: expectedChecksum === fields.checksum,
    expectedChecksum,
  };
}

/** Encodes header fields and locator entries into 1024 bytes with a fresh checksum. */
export function encodeDynamicHeader(fields: HeaderFields, locators: LocatorEntry[]): Uint8Array {
  const buf = new Uint8Array(HEADER_SIZE);
  encodeStruct(HEADER_LAYOUT, { ...fields, checksum: 0 }, buf);
  locators.slice(0, LOCATOR_COUNT).forEach((l, i) => encodeStruct(LOCATOR_LAYOUT, l, buf, LOCATORS_OFFSET + i * 24));
  new DataView(buf.buffer).setUint32(CHECKSUM_OFFSET, vhdChecksum(buf, CHECKSUM_OFFSET));
  return buf;
}

/** Decodes the UTF-16BE parent name up to its first NUL; unpaired surrogates become U+FFFD. */
export function decodeParentName(raw: Uint8Array): string {
  const units: number[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const u = (raw[i]! << 8) | raw[i + 1]!;
    if (u === 0) break;
    units.push(u);
  }
  return String.fromCharCode(...units).toWellFormed();
}

/** Encodes a parent name as UTF-16BE into the 512-byte field (refuses names that do not fit). */
export function encodeParentName(name: string): Uint8Array {
  const out = new Uint8Array(512);
  if (name.length * 2 > out.length) {
    throw new DiskImageError('USAGE', `parent name '${name}' is longer than the 256 UTF-16 units a VHD header holds`);
  }
  for (let i = 0; i < name.length; i++) {
    const u = name.charCodeAt(i);
    out[2 * i] = u >> 8;
    out[2 * i + 1] = u & 0xff;
  }
  return out;
}
