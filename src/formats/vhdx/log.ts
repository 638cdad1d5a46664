/**
 * The VHDX log ([MS-VHDX] 2.3): a circular buffer of entries (a header,
 * descriptors, data sectors) that records metadata updates before they are
 * made in place. While the current header's LogGuid is not zero the log may
 * hold updates that never reached their place, and they must be replayed
 * before any metadata is read (2.3.3). This module finds the active sequence
 * and returns its updates; replayed-file.ts applies them in memory,
 * log-replay.ts on disk. The encoder writes entries for tests and writers.
 */
import { DiskImageError } from '../../errors.js';
import type { ImageFile } from '../../io/image-file.js';
import { u64ToNumber } from '../../util/checked.js';
import { crc32c } from '../../util/crc32c.js';
import { formatGuid } from '../../util/guid.js';
import { decodeStruct, defineStruct, encodeStruct } from '../../util/struct.js';
import { uuidEqual, uuidIsNil } from '../../util/uuid.js';
import { HEADER_OFFSETS, KiB64, LOG_SECTOR, MAX_VIRTUAL_SIZE, MiB } from './constants.js';
import { resolveUpdates, type Update } from './replayed-file.js';

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
/** LogOffset and LogLength are multiples of 1 MiB, and the log lies past the first 1 MiB (2.2.2). */
export const LOG_ALIGNMENT = MiB;
/** Largest log vdisk replays: vdisk's own bound (LogLength is a u32 in 2.2.2); qemu and the Windows VHDX we have use 1 MiB. */
export const MAX_LOG_LENGTH = 64 * MiB;
/**
 * Largest LastFileOffset vdisk accepts: 64 TiB of data (2.6.2.2) plus 1 TiB,
 * far more than its BAT and sector bitmaps need. Beyond it the log is CORRUPT.
 */
export const MAX_LAST_FILE_OFFSET = MAX_VIRTUAL_SIZE + 1024 ** 4;
/** The header slots [64 KiB, 192 KiB): "updates to the headers cannot be made through the log" (2.2.2). */
const HEADERS_START = HEADER_OFFSETS[0];
const HEADERS_END = HEADER_OFFSETS[1] + KiB64;
/** Most candidate-entry bytes one scan may checksum: a log of stale overlapping entries cannot make it quadratic. */
const SCAN_BUDGET_MIN = 256 * MiB;
/** Most steps the search for the active sequence may take (a 64 MiB log has 16384 sectors). */
const MAX_SEARCH_STEPS = 10_000_000;

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

/**
 * What replaying the active sequence does to the file. Normalised: `writes`
 * are 4 KiB sectors sorted by offset, one per sector, holding the last data
 * the sequence writes there; `zeroes` are sorted, merged, 4 KiB-aligned
 * ranges disjoint from `writes`. So the order of applying them does not
 * matter (for a hand-made replay: zeroes first, then writes in order).
 */
export interface LogReplay {
  /** SequenceNumber of the head (newest) entry. */
  sequenceNumber: bigint;
  /** How many entries the active sequence has. */
  entries: number;
  writes: { offset: number; data: Uint8Array }[];
  zeroes: { offset: number; length: number }[];
  /** The head entry's FlushedFileOffset; the file was checked to be at least this long (2.3.3). */
  flushedFileOffset: number;
  /** The largest LastFileOffset of the sequence (the head's, in a well-formed log): the file grows to it. */
  lastFileOffset: number;
}

/** Options of readActiveLog. */
export interface ReadLogOptions {
  /** Told of each entry that carries the file's LogGuid but is not valid (torn, damaged), and why. */
  onInvalidEntry?: (position: number, reason: string) => void;
}

const SIG = (s: string) => new Uint8Array(Buffer.from(s, 'latin1'));
const LOGE = SIG(LOG_ENTRY_SIGNATURE);
const ZERO = SIG(ZERO_DESCRIPTOR_SIGNATURE);
const DESC = SIG(DATA_DESCRIPTOR_SIGNATURE);
const ZERO4 = new Uint8Array(4);

function hasSignature(buf: Uint8Array, at: number, sig: Uint8Array): boolean {
  return buf[at] === sig[0] && buf[at + 1] === sig[1] && buf[at + 2] === sig[2] && buf[at + 3] === sig[3];
}

function corrupt(message: string, details: Record<string, unknown>): DiskImageError {
  return new DiskImageError('CORRUPT', message, details);
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

type Placed = LogEntry & { position: number };

/** Every valid entry of the log, by its position (byte offset in the log); entries may wrap past the end. */
function scanLog(log: Uint8Array, logGuid: Uint8Array, options: ReadLogOptions): Map<number, Placed> {
  const found = new Map<number, Placed>();
  const view = new DataView(log.buffer, log.byteOffset, log.length);
  let budget = Math.max(8 * log.length, SCAN_BUDGET_MIN);
  for (let pos = 0; pos < log.length; pos += LOG_SECTOR) {
    // Entries of earlier sessions (another LogGuid) are normal leftovers: skip them quietly.
    if (!hasSignature(log, pos, LOGE) || !uuidEqual(log.subarray(pos + 32, pos + 48), logGuid)) continue;
    const length = view.getUint32(pos + 8, true);
    if (length === 0 || length % LOG_SECTOR !== 0 || length > log.length) {
      options.onInvalidEntry?.(pos, `EntryLength ${length} is not a non-zero multiple of 4 KiB within the ${log.length}-byte log`);
      continue;
    }
    budget -= length;
    if (budget < 0) {
      throw corrupt(`VHDX log: candidate entries overlap so much that checking them would read more than ${Math.max(8 * log.length, SCAN_BUDGET_MIN)} bytes (at log position ${pos})`, {
        field: 'log entries',
        position: pos,
      });
    }
    let bytes = log.subarray(pos, pos + length);
    if (pos + length > log.length) {
      bytes = new Uint8Array(length);
      bytes.set(log.subarray(pos));
      bytes.set(log.subarray(0, pos + length - log.length), log.length - pos);
    }
    const entry = decodeLogEntry(bytes, logGuid);
    if (typeof entry === 'string') options.onInvalidEntry?.(pos, entry);
    else found.set(pos, { ...entry, position: pos });
  }
  return found;
}

/**
 * The active sequence (2.3.3): of the valid sequences — runs of valid
 * entries, each starting where the previous one ends (wrapping), with
 * consecutive sequence numbers, that begin at the entry the last one's Tail
 * names — the one whose head has the highest sequence number.
 */
function activeSequence(entries: Map<number, Placed>, logLength: number): Placed[] | undefined {
  const heads = [...entries.values()].sort((a, b) =>
    a.sequenceNumber === b.sequenceNumber ? a.position - b.position : a.sequenceNumber < b.sequenceNumber ? 1 : -1,
  );
  let steps = 0;
  const endingAt = (head: Placed): Placed[] | undefined => {
    let cur = entries.get(head.tail);
    if (!cur || cur.sequenceNumber > head.sequenceNumber) return undefined;
    const run = [cur];
    let total = cur.entryLength;
    while (cur !== head) {
      if (++steps > MAX_SEARCH_STEPS) {
        throw corrupt(`VHDX log: searching for the active sequence took more than ${MAX_SEARCH_STEPS} steps`, { field: 'log entries' });
      }
      const next: Placed | undefined = entries.get((cur.position + cur.entryLength) % logLength);
      if (!next || next.sequenceNumber !== cur.sequenceNumber + 1n || next.sequenceNumber > head.sequenceNumber) return undefined;
      total += next.entryLength;
      if (total > logLength) return undefined;
      run.push(next);
      cur = next;
    }
    return run;
  };
  let best: Placed[] | undefined;
  for (const head of heads) {
    if (best && head.sequenceNumber < best[best.length - 1]!.sequenceNumber) break;
    const run = endingAt(head);
    if (!run) continue;
    if (best) {
      throw corrupt(`VHDX log: two valid sequences end with SequenceNumber ${head.sequenceNumber} (log positions ${best[best.length - 1]!.position} and ${head.position})`, {
        field: 'SequenceNumber',
        value: head.sequenceNumber.toString(),
      });
    }
    best = run;
  }
  return best;
}

/** Checks the active sequence against the file and the log region (CORRUPT / OUT_OF_RANGE), then normalises its updates. */
function toReplay(run: Placed[], fileSize: number, logOffset: number, logLength: number): LogReplay {
  const head = run[run.length - 1]!;
  const flushed = u64ToNumber(head.flushedFileOffset, 'VHDX log entry FlushedFileOffset');
  if (flushed > fileSize) {
    throw corrupt(`VHDX log entry ${head.sequenceNumber} has FlushedFileOffset ${flushed} but the file has ${fileSize} bytes: it was truncated (2.3.3)`, {
      field: 'FlushedFileOffset',
      value: flushed,
      limit: fileSize,
    });
  }
  let last = 0;
  for (const e of run) {
    const v = u64ToNumber(e.lastFileOffset, 'VHDX log entry LastFileOffset');
    if (v > MAX_LAST_FILE_OFFSET) {
      throw corrupt(`VHDX log entry ${e.sequenceNumber} has LastFileOffset ${v}, larger than any VHDX file (${MAX_LAST_FILE_OFFSET})`, { field: 'LastFileOffset', value: v });
    }
    last = Math.max(last, v);
  }
  const limit = Math.max(fileSize, last);
  const ops: Update[] = [];
  for (const e of run) {
    e.descriptors.forEach((d, i) => {
      const where = `VHDX log entry ${e.sequenceNumber} descriptor ${i}`;
      const offset = u64ToNumber(d.fileOffset, `${where} FileOffset`);
      const length = d.kind === 'data' ? LOG_SECTOR : u64ToNumber(d.length, `${where} ZeroLength`);
      const details = { field: 'FileOffset', value: offset, length, sequenceNumber: e.sequenceNumber.toString(), descriptor: i };
      if (offset % LOG_SECTOR !== 0) throw corrupt(`${where}: FileOffset ${offset} is not a multiple of 4 KiB (2.3.1.2, 2.3.1.3)`, details);
      if (length % LOG_SECTOR !== 0) throw corrupt(`${where}: ZeroLength ${length} is not a multiple of 4 KiB (2.3.1.2)`, { ...details, field: 'ZeroLength' });
      if (offset + length > limit) throw corrupt(`${where}: ${length} bytes at FileOffset ${offset} end past LastFileOffset and the file end (${limit})`, { ...details, limit });
      if (offset < HEADERS_END && offset + length > HEADERS_START) throw corrupt(`${where}: FileOffset ${offset} would change the VHDX headers, which the log never updates (2.2.2)`, details);
      if (offset < logOffset + logLength && offset + length > logOffset) throw corrupt(`${where}: FileOffset ${offset} lies inside the log itself (${logOffset}, ${logLength} bytes)`, details);
      if (length > 0) ops.push(d.kind === 'data' ? { start: offset, end: offset + length, data: d.sector } : { start: offset, end: offset + length });
    });
  }
  return { sequenceNumber: head.sequenceNumber, entries: run.length, ...resolveUpdates(ops), flushedFileOffset: flushed, lastFileOffset: last };
}

/**
 * Finds the log's active sequence (2.3.3) and returns what replaying it does,
 * or undefined when there is nothing to replay: LogGuid is zero, or no valid
 * sequence exists (the log is empty, or its only entries are torn). Invalid
 * entries are simply not part of a sequence (2.3.3); `onInvalidEntry` hears
 * of each one that carries the file's LogGuid. A log region outside the file
 * or misaligned, a truncated file, or an active sequence whose updates are
 * impossible (misaligned, past LastFileOffset, into the headers or the log)
 * is `CORRUPT`; a log over MAX_LOG_LENGTH is `UNSUPPORTED`. Reads the log
 * once; memory is bounded by its size.
 */
export async function readActiveLog(
  file: ImageFile,
  logGuid: Uint8Array,
  logOffset: number,
  logLength: number,
  options: ReadLogOptions = {},
): Promise<LogReplay | undefined> {
  if (logGuid.length !== 16) throw new DiskImageError('USAGE', `a LogGuid has 16 bytes, not ${logGuid.length}`);
  if (uuidIsNil(logGuid)) return undefined;
  const region = { field: 'log region', offset: logOffset, length: logLength, fileSize: file.size };
  if (!Number.isSafeInteger(logOffset) || !Number.isSafeInteger(logLength) || logOffset % LOG_ALIGNMENT !== 0 || logLength % LOG_ALIGNMENT !== 0 || logOffset < LOG_ALIGNMENT || logLength <= 0) {
    throw corrupt(`VHDX log at ${logOffset} (LogLength ${logLength}) is not a non-empty 1 MiB-aligned region past the first 1 MiB (2.2.2)`, region);
  }
  if (logOffset + logLength > file.size) throw corrupt(`VHDX log at ${logOffset} (LogLength ${logLength}) runs past the end of the file (${file.size} bytes)`, region);
  if (logLength > MAX_LOG_LENGTH) {
    throw new DiskImageError('UNSUPPORTED', `VHDX log of ${logLength} bytes needs replaying; vdisk replays logs up to ${MAX_LOG_LENGTH} bytes`, region);
  }
  const log = new Uint8Array(logLength);
  await file.read(log, logOffset);
  const run = activeSequence(scanLog(log, logGuid, options), logLength);
  return run ? toReplay(run, file.size, logOffset, logLength) : undefined;
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
