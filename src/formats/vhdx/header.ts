import { crc32cWithZeroField } from '../../util/crc32c.js';
import { u64ToNumber } from '../../util/checked.js';
import { decodeStruct, defineStruct, encodeStruct, type Decoded } from '../../util/struct.js';
import { HEADER_SIGNATURE, HEADER_SIZE } from './constants.js';

/** Header layout, little-endian (2.2.2). */
export const HEADER_LAYOUT = defineStruct('vhdx header', HEADER_SIZE, 'le', {
  signature: { offset: 0, type: 'ascii', length: 4 },
  checksum: { offset: 4, type: 'u32' },
  sequenceNumber: { offset: 8, type: 'u64' },
  fileWriteGuid: { offset: 16, type: 'bytes', length: 16 },
  dataWriteGuid: { offset: 32, type: 'bytes', length: 16 },
  logGuid: { offset: 48, type: 'bytes', length: 16 },
  logVersion: { offset: 64, type: 'u16' },
  version: { offset: 66, type: 'u16' },
  logLength: { offset: 68, type: 'u32' },
  logOffset: { offset: 72, type: 'u64' },
});

/** Raw header fields. */
export type HeaderFields = Decoded<typeof HEADER_LAYOUT.fields>;

/** A header that passed its signature and CRC-32C checks. */
export interface VhdxHeader {
  fields: HeaderFields;
  /** Which slot (0 at 64 KiB, 1 at 128 KiB). */
  slot: number;
  sequenceNumber: bigint;
  logOffset: number;
  logLength: number;
}

/** Decodes a header slot; undefined when its signature or checksum is wrong. */
export function decodeHeader(buf: Uint8Array, slot: number): VhdxHeader | undefined {
  const fields = decodeStruct(HEADER_LAYOUT, buf);
  if (fields.signature !== HEADER_SIGNATURE) return undefined;
  if (crc32cWithZeroField(buf.subarray(0, HEADER_SIZE), 4) !== fields.checksum) return undefined;
  return {
    fields,
    slot,
    sequenceNumber: fields.sequenceNumber,
    logOffset: u64ToNumber(fields.logOffset, 'header log offset'),
    logLength: fields.logLength,
  };
}

/** Encodes a header into 4 KiB with a fresh CRC-32C. */
export function encodeHeader(fields: HeaderFields): Uint8Array {
  const buf = new Uint8Array(HEADER_SIZE);
  encodeStruct(HEADER_LAYOUT, { ...fields, checksum: 0 }, buf);
  new DataView(buf.buffer).setUint32(4, crc32cWithZeroField(buf, 4), true);
  return buf;
}

/** The current header: the valid one with the higher sequence number (2.2.2.1). */
export function currentHeader(a: VhdxHeader | undefined, b: VhdxHeader | undefined): VhdxHeader | undefined {
  if (!a) return b;
  if (!b) return a;
  return b.sequenceNumber > a.sequenceNumber ? b : a;
}
