/**
 * One VHDX log entry ([MS-VHDX] 2.3.1): the entry header, zero and data
 * descriptors and data sectors, decoded with every check of 2.3.1, and
 * encoded (for tests and writers). log.ts finds the active sequence of them.
 */
import { DiskImageError } from '../../errors.js';
import { crc32c } from '../../util/crc32c.js';
import { formatGuid } from '../../util/guid.js';
import { decodeStruct, defineStruct, encodeStruct } from '../../util/struct.js';
import { uuidEqual } from '../../util/uuid.js';
import { LOG_SECTOR } from './constants.js';

/** Entry header signature "loge" (2.3.1.1). */
export const LOG_ENTRY_SIGNATURE = 'loge';
/** Zero descriptor signature "zero" (2.3.1.2). */
export const ZERO_DESCRIPTOR_SIGNATURE = 'zero';
/** Data descriptor signature "desc" (2.3.1.3). */
export const DATA_DESCRIPTOR_SIGNATURE = 'desc';
/** Data sector signature "data" (2.3.1.4). */
export const DATA_SECTOR_SIGNATURE = 'data';
/** Size of the entry header; the descriptors follow it directly, packed across 4 KiB sectors (2.3.1, 2.3.1.1). */
export const LOG_ENTRY_HEADER_SIZE = 64;
/** Size of a zero or data descriptor (2.3.1.2, 2.3.1.3). */
export const LOG_DESCRIPTOR_SIZE = 32;
/** A data sector carries bytes 8..4091 of its 4 KiB update; bytes 0..7 and 4092..4095 ride in the descriptor (2.3.1.4). */
export const LOG_DATA_LEADING = 8, LOG_DATA_TRAILING = 4;

/** Entry header layout, little-endian (2.3.1.1). */
export const LOG_ENTRY_HEADER = defineStruct('vhdx log entry header', LOG_ENTRY_HEADER_SIZE, 'le', {
  signature: { offset: 0, type: 'ascii', length: 4 },
  checksum: { offset: 4, type: 'u32' },
  entryLength: { offset: 8, type: 'u32' },
  tail: { offset: 12, type: 'u32' },
  sequenceNumber: { offset: 16, type: 'u64' },
  descriptorCount: { offset: 24, type: 'u32' },
  reserved: { offset: 28, type: 'u32' },
  logGuid: { offset: 32, type: 'bytes', length: 16 },
  flushedFileOffset: { offset: 48, type: 'u64' },
  lastFileOffset: { offset: 56, type: 'u64' },
});

/** Zero descriptor layout (2.3.1.2): ZeroLength bytes of zeros at FileOffset. */
export const ZERO_DESCRIPTOR = defineStruct('vhdx log zero descriptor', LOG_DESCRIPTOR_SIZE, 'le', {
  signature: { offset: 0, type: 'ascii', length: 4 },
  reserved: { offset: 4, type: 'u32' },
  zeroLength: { offset: 8, type: 'u64' },
  fileOffset: { offset: 16, type: 'u64' },
  sequenceNumber: { offset: 24, type: 'u64' },
});

/** Data descriptor layout (2.3.1.3): one 4 KiB update at FileOffset; its first 8 and last 4 bytes are kept here. */
export const DATA_DESCRIPTOR = defineStruct('vhdx log data descriptor', LOG_DESCRIPTOR_SIZE, 'le', {
  signature: { offset: 0, type: 'ascii', length: 4 },
  trailingBytes: { offset: 4, type: 'bytes', length: LOG_DATA_TRAILING },
  leadingBytes: { offset: 8, type: 'bytes', length: LOG_DATA_LEADING },
  fileOffset: { offset: 16, type: 'u64' },
  sequenceNumber: { offset: 24, type: 'u64' },
});

/** Data sector layout (2.3.1.4): the update's bytes 8..4091 between the two halves of the entry's SequenceNumber. */
export const DATA_SECTOR = defineStruct('vhdx log data sector', LOG_SECTOR, 'le', {
  signature: { offset: 0, type: 'ascii', length: 4 },
  sequenceHigh: { offset: 4, type: 'u32' },
  sequenceLow: { offset: LOG_SECTOR - LOG_DATA_TRAILING, type: 'u32' },
});

/** One update of an entry, in descriptor order; a data update holds its whole 4 KiB sector, leading and trailing bytes restored. */
export type LogDescriptor =
  | { kind: 'zero'; fileOffset: bigint; length: bigint }
  | { kind: 'data'; fileOffset: bigint; sector: Uint8Array };

/** An entry that passed every check of 2.3.1 (whether it belongs to the active sequence is decided later). */
export interface LogEntry {
  entryLength: number;
  tail: number;
  sequenceNumber: bigint;
  flushedFileOffset: bigint;
  lastFileOffset: bigint;
  descriptors: LogDescriptor[];
}

const SIG = (s: string) => new Uint8Array(Buffer.from(s, 'latin1'));
const LOGE = SIG(LOG_ENTRY_SIGNATURE);
const ZERO = SIG(ZERO_DESCRIPTOR_SIGNATURE);
const DESC = SIG(DATA_DESCRIPTOR_SIGNATURE);
const ZERO4 = new Uint8Array(4);

function hasSignature(buf: Uint8Array, at: number, sig: Uint8Array): boolean {
  return buf[at] === sig[0] && buf[at + 1] === sig[1] && buf[at + 2] === sig[2] && buf[at + 3] === sig[3];
}

/** True when `buf` at `at` starts an entry header of this log: signature "loge" and the LogGuid (2.3.1.1), nothing else checked. */
export function startsLogEntry(buf: Uint8Array, at: number, logGuid: Uint8Array): boolean {
  return hasSignature(buf, at, LOGE) && uuidEqual(buf.subarray(at + 32, at + 48), logGuid);
}

/** Sectors holding the header and `count` descriptors: ceil((64 + 32 * count) / 4096) (2.3.1). */
export function descriptorSectors(count: number): number {
  return Math.ceil((LOG_ENTRY_HEADER_SIZE + LOG_DESCRIPTOR_SIZE * count) / LOG_SECTOR);
}

/** CRC-32C of an entry (its EntryLength bytes) with the Checksum field counted as zero (2.3.1.1), without copying it. */
export function logEntryChecksum(entry: Uint8Array): number {
  return crc32c(entry.subarray(8), crc32c(ZERO4, crc32c(entry.subarray(0, 4))));
}

/**
 * Decodes and validates the entry at the start of `bytes` (which hold at
 * least its EntryLength bytes, contiguous): signature, LogGuid, EntryLength,
 * SequenceNumber > 0, descriptors and data sectors inside the entry with the
 * entry's sequence number, and the checksum (2.3.1). Returns the entry, or
 * why it is not a valid entry.
 */
export function decodeLogEntry(bytes: Uint8Array, logGuid: Uint8Array): LogEntry | string {
  if (bytes.length < LOG_SECTOR) return `only ${bytes.length} bytes, less than one 4 KiB sector`;
  const h = decodeStruct(LOG_ENTRY_HEADER, bytes);
  if (h.signature !== LOG_ENTRY_SIGNATURE) return `signature ${JSON.stringify(h.signature)} is not "loge"`;
  if (!uuidEqual(h.logGuid, logGuid)) return `LogGuid ${formatGuid(h.logGuid)} is not the header's ${formatGuid(logGuid)}`;
  if (h.entryLength === 0 || h.entryLength % LOG_SECTOR !== 0 || h.entryLength > bytes.length) {
    return `EntryLength ${h.entryLength} is not a non-zero multiple of 4 KiB within ${bytes.length} bytes`;
  }
  if (h.sequenceNumber === 0n) return 'SequenceNumber is 0';
  const sectors = h.entryLength / LOG_SECTOR;
  const descSectors = descriptorSectors(h.descriptorCount);
  if (descSectors > sectors) return `DescriptorCount ${h.descriptorCount} needs ${descSectors} sectors, more than EntryLength ${h.entryLength}`;
  const view = new DataView(bytes.buffer, bytes.byteOffset, h.entryLength);
  const high = Number(h.sequenceNumber >> 32n);
  const low = Number(h.sequenceNumber & 0xffffffffn);
  const found: { kind: 'zero' | 'data'; at: number; sector: number }[] = [];
  let dataSector = descSectors;
  for (let i = 0; i < h.descriptorCount; i++) {
    const at = LOG_ENTRY_HEADER_SIZE + i * LOG_DESCRIPTOR_SIZE;
    const seq = view.getBigUint64(at + 24, true);
    if (seq !== h.sequenceNumber) return `descriptor ${i} SequenceNumber ${seq} is not the entry's ${h.sequenceNumber}`;
    if (hasSignature(bytes, at, ZERO)) {
      found.push({ kind: 'zero', at, sector: -1 });
    } else if (hasSignature(bytes, at, DESC)) {
      if (dataSector >= sectors) return `descriptor ${i} needs data sector ${dataSector}, past EntryLength ${h.entryLength}`;
      const s = dataSector++ * LOG_SECTOR;
      const d = decodeStruct(DATA_SECTOR, bytes, s);
      if (d.signature !== DATA_SECTOR_SIGNATURE) return `data sector ${s / LOG_SECTOR} signature ${JSON.stringify(d.signature)} is not "data"`;
      if (d.sequenceHigh !== high || d.sequenceLow !== low) {
        return `data sector ${s / LOG_SECTOR} SequenceHigh/Low ${d.sequenceHigh}/${d.sequenceLow} are not the entry's ${high}/${low}`;
      }
      found.push({ kind: 'data', at, sector: s });
    } else {
      return `descriptor ${i} signature ${JSON.stringify(Buffer.from(bytes.subarray(at, at + 4)).toString('latin1'))} is neither "zero" nor "desc"`;
    }
  }
  const sum = logEntryChecksum(bytes.subarray(0, h.entryLength));
  if (sum !== h.checksum) return `Checksum 0x${h.checksum.toString(16)} does not match the entry's CRC-32C 0x${sum.toString(16)}`;
  const descriptors = found.map((f): LogDescriptor => {
    if (f.kind === 'zero') {
      const z = decodeStruct(ZERO_DESCRIPTOR, bytes, f.at);
      return { kind: 'zero', fileOffset: z.fileOffset, length: z.zeroLength };
    }
    const d = decodeStruct(DATA_DESCRIPTOR, bytes, f.at);
    const sector = new Uint8Array(LOG_SECTOR);
    sector.set(d.leadingBytes, 0);
    sector.set(bytes.subarray(f.sector + LOG_DATA_LEADING, f.sector + LOG_SECTOR - LOG_DATA_TRAILING), LOG_DATA_LEADING);
    sector.set(d.trailingBytes, LOG_SECTOR - LOG_DATA_TRAILING);
    return { kind: 'data', fileOffset: d.fileOffset, sector };
  });
  const { entryLength, tail, sequenceNumber, flushedFileOffset, lastFileOffset } = h;
  return { entryLength, tail, sequenceNumber, flushedFileOffset, lastFileOffset, descriptors };
}

/** What encodeLogEntry writes: one entry's header fields and updates. */
export interface LogEntryInput {
  logGuid: Uint8Array;
  sequenceNumber: bigint;
  /** Byte offset in the log of the first entry of the sequence this entry ends (2.3.1.1). */
  tail: number;
  flushedFileOffset: number;
  lastFileOffset: number;
  /** 4 KiB sectors at 4 KiB-aligned offsets; data descriptors, after the zero descriptors. */
  writes: { offset: number; data: Uint8Array }[];
  /** 4 KiB-aligned ranges; zero descriptors, first. */
  zeroes: { offset: number; length: number }[];
  /** Extra sectors of zeros at the end of the entry, inside EntryLength and the checksum (for tests). */
  padSectors?: number;
}

/**
 * Encodes a valid log entry (2.3.1): the header, the zero descriptors, then
 * one data descriptor per write (its first 8 and last 4 bytes moved into the
 * descriptor), then the data sectors in descriptor order, and the CRC-32C.
 * Replaying it zeroes the ranges first, then writes the sectors in order.
 * Bad input is a `USAGE` error.
 */
export function encodeLogEntry(opts: LogEntryInput): Uint8Array {
  const usage = (what: string) => new DiskImageError('USAGE', `encodeLogEntry: ${what}`);
  const aligned = (n: number) => Number.isSafeInteger(n) && n >= 0 && n % LOG_SECTOR === 0;
  if (opts.logGuid.length !== 16) throw usage(`LogGuid has ${opts.logGuid.length} bytes, not 16`);
  if (opts.sequenceNumber <= 0n || opts.sequenceNumber >= 2n ** 64n) throw usage(`SequenceNumber ${opts.sequenceNumber} is not in 1..2^64-1`);
  if (!aligned(opts.tail) || opts.tail > 0xffffffff) throw usage(`Tail ${opts.tail} is not a 4 KiB-aligned u32`);
  for (const v of [opts.flushedFileOffset, opts.lastFileOffset]) if (!Number.isSafeInteger(v) || v < 0) throw usage(`file offset ${v} is not a safe integer`);
  for (const w of opts.writes) if (!aligned(w.offset) || w.data.length !== LOG_SECTOR) throw usage(`a write at ${w.offset} of ${w.data.length} bytes is not one aligned 4 KiB sector`);
  for (const z of opts.zeroes) if (!aligned(z.offset) || !aligned(z.length)) throw usage(`zeroes at ${z.offset} (${z.length} bytes) are not 4 KiB aligned`);
  const pad = opts.padSectors ?? 0;
  const count = opts.zeroes.length + opts.writes.length;
  const descSectors = descriptorSectors(count);
  const length = (descSectors + opts.writes.length + pad) * LOG_SECTOR;
  if (!Number.isSafeInteger(pad) || pad < 0 || length > 0xffffffff) throw usage(`an entry of ${length} bytes does not fit EntryLength (u32)`);
  const buf = new Uint8Array(length);
  const seq = opts.sequenceNumber;
  const [flushedFileOffset, lastFileOffset] = [BigInt(opts.flushedFileOffset), BigInt(opts.lastFileOffset)];
  const header = { signature: LOG_ENTRY_SIGNATURE, checksum: 0, entryLength: length, tail: opts.tail, sequenceNumber: seq, descriptorCount: count };
  encodeStruct(LOG_ENTRY_HEADER, { ...header, reserved: 0, logGuid: opts.logGuid, flushedFileOffset, lastFileOffset }, buf);
  let at = LOG_ENTRY_HEADER_SIZE;
  for (const z of opts.zeroes) {
    encodeStruct(ZERO_DESCRIPTOR, { signature: ZERO_DESCRIPTOR_SIGNATURE, reserved: 0, zeroLength: BigInt(z.length), fileOffset: BigInt(z.offset), sequenceNumber: seq }, buf, at);
    at += LOG_DESCRIPTOR_SIZE;
  }
  opts.writes.forEach((w, i) => {
    const [leadingBytes, trailingBytes] = [w.data.subarray(0, LOG_DATA_LEADING), w.data.subarray(LOG_SECTOR - LOG_DATA_TRAILING)];
    encodeStruct(DATA_DESCRIPTOR, { signature: DATA_DESCRIPTOR_SIGNATURE, trailingBytes, leadingBytes, fileOffset: BigInt(w.offset), sequenceNumber: seq }, buf, at);
    at += LOG_DESCRIPTOR_SIZE;
    const s = (descSectors + i) * LOG_SECTOR;
    encodeStruct(DATA_SECTOR, { signature: DATA_SECTOR_SIGNATURE, sequenceHigh: Number(seq >> 32n), sequenceLow: Number(seq & 0xffffffffn) }, buf, s);
    buf.set(w.data.subarray(LOG_DATA_LEADING, LOG_SECTOR - LOG_DATA_TRAILING), s + LOG_DATA_LEADING);
  });
  new DataView(buf.buffer).setUint32(4, logEntryChecksum(buf), true);
  return buf;
}
