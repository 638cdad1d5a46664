/**
 * The VHDX log ([MS-VHDX] 2.3): a circular buffer of entries (a header,
 * descriptors, data sectors) that records metadata updates before they are
 * made in place. While the current header's LogGuid is not zero the log may
 * hold updates that never reached their place, and they must be replayed
 * before any metadata is read (2.3.3). This module finds the active sequence
 * and returns its updates; replayed-file.ts applies them in memory,
 * log-replay.ts on disk; log-entry.ts decodes and encodes single entries.
 */
import { DiskImageError } from '../../errors.js';
import type { ImageFile } from '../../io/image-file.js';
import { u64ToNumber } from '../../util/checked.js';
import { uuidIsNil } from '../../util/uuid.js';
import { HEADER_OFFSETS, KiB64, LOG_SECTOR, MAX_VIRTUAL_SIZE, MiB } from './constants.js';
import { decodeLogEntry, startsLogEntry, type LogEntry } from './log-entry.js';
import { resolveUpdates, type LogReplay, type Update } from './log-updates.js';
import { limitNote, VHDX_LOG_SCAN_BUDGET, VHDX_MAX_LOG_LENGTH, VHDX_MAX_LOG_SEARCH_STEPS } from '../../limits.js';

/** LogOffset and LogLength are multiples of 1 MiB, and the log lies past the first 1 MiB (2.2.2). */
export const LOG_ALIGNMENT = MiB;
/**
 * Largest LastFileOffset vdisk accepts: 64 TiB of data (2.6.2.2) plus 1 TiB,
 * far more than its BAT and sector bitmaps need. Beyond it the log is CORRUPT.
 */
export const MAX_LAST_FILE_OFFSET = MAX_VIRTUAL_SIZE + 1024 ** 4;
/** The header slots [64 KiB, 192 KiB): "updates to the headers cannot be made through the log" (2.2.2). */
const HEADERS_START = HEADER_OFFSETS[0];
const HEADERS_END = HEADER_OFFSETS[1] + KiB64;

/** Options of readActiveLog. */
export interface ReadLogOptions {
  /** Told of each entry that carries the file's LogGuid but is not valid (torn, damaged), and why. */
  onInvalidEntry?: (position: number, reason: string) => void;
}

function corrupt(message: string, details: Record<string, unknown>): DiskImageError {
  return new DiskImageError('CORRUPT', message, details);
}


type Placed = LogEntry & { position: number };

/** Every valid entry of the log, by its position (byte offset in the log); entries may wrap past the end. */
function scanLog(log: Uint8Array, logGuid: Uint8Array, options: ReadLogOptions): Map<number, Placed> {
  const found = new Map<number, Placed>();
  const view = new DataView(log.buffer, log.byteOffset, log.length);
  let budget = Math.max(8 * log.length, VHDX_LOG_SCAN_BUDGET);
  for (let pos = 0; pos < log.length; pos += LOG_SECTOR) {
    // Entries of earlier sessions (another LogGuid) are normal leftovers: skip them quietly.
    if (!startsLogEntry(log, pos, logGuid)) continue;
    const length = view.getUint32(pos + 8, true);
    if (length === 0 || length % LOG_SECTOR !== 0 || length > log.length) {
      options.onInvalidEntry?.(pos, `EntryLength ${length} is not a non-zero multiple of 4 KiB within the ${log.length}-byte log`);
      continue;
    }
    budget -= length;
    if (budget < 0) {
      throw corrupt(`VHDX log: candidate entries overlap so much that checking them would read more than ${Math.max(8 * log.length, VHDX_LOG_SCAN_BUDGET)} bytes (at log position ${pos}; ${limitNote('VHDX_LOG_SCAN_BUDGET', VHDX_LOG_SCAN_BUDGET)})`, {
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
      if (++steps > VHDX_MAX_LOG_SEARCH_STEPS) {
        throw corrupt(`VHDX log: searching for the active sequence took more than ${VHDX_MAX_LOG_SEARCH_STEPS} steps (${limitNote('VHDX_MAX_LOG_SEARCH_STEPS', VHDX_MAX_LOG_SEARCH_STEPS)})`, { field: 'log entries' });
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
 * is `CORRUPT`; a log over VHDX_MAX_LOG_LENGTH is `UNSUPPORTED`. Reads the log
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
  if (logLength > VHDX_MAX_LOG_LENGTH) {
    throw new DiskImageError('UNSUPPORTED', `VHDX log of ${logLength} bytes needs replaying; vdisk replays logs up to ${VHDX_MAX_LOG_LENGTH} bytes (${limitNote('VHDX_MAX_LOG_LENGTH', VHDX_MAX_LOG_LENGTH)})`, region);
  }
  const log = new Uint8Array(logLength);
  await file.read(log, logOffset);
  const run = activeSequence(scanLog(log, logGuid, options), logLength);
  return run ? toReplay(run, file.size, logOffset, logLength) : undefined;
}
