/**
 * Builders for VHDX log tests: a scratch file with a log region, entries
 * placed in the circular log (wrapping at its end), and a byte model that
 * applies the same updates in order, to check replays against.
 */
import { closeSync, ftruncateSync, openSync, readFileSync, writeSync } from 'node:fs';
import { DiskImageError } from '../../src/errors.js';
import { encodeLogEntry, logEntryChecksum } from '../../src/formats/vhdx/log-entry.js';
import type { Range } from '../../src/io/byte-source.js';
import type { ImageFile } from '../../src/io/image-file.js';
import { guidBytes } from '../../src/util/guid.js';
import { prng } from './prng.js';

export const SECTOR = 4096;
export const MiB = 1024 * 1024;
/** The scratch files keep their log where qemu and Hyper-V do: 1 MiB at 1 MiB. */
export const LOG_OFFSET = MiB;
export const LOG_LENGTH = MiB;
/** Scratch file size: the first MiB, the log, then 2 MiB of patterned "metadata" for the log to update. */
export const FILE_SIZE = 4 * MiB;
/** A sparse hole in the scratch file (reads as zeros, no data range). */
export const HOLE = { offset: 3 * MiB, length: MiB / 2 };
/** The LogGuid of the scratch files' headers, and another session's. */
export const GUID = guidBytes('3F2504E0-4F89-11D3-9A0C-0305E82C3301');
export const OTHER_GUID = guidBytes('6BA7B810-9DAD-11D1-80B4-00C04FD430C8');

/** A 4 KiB sector whose bytes all derive from `tag`, its first 8 and last 4 included (so moving them is visible). */
export function sector(tag: number): Uint8Array {
  const rand = prng(tag * 7919 + 1);
  return Uint8Array.from({ length: SECTOR }, () => Math.floor(rand() * 256));
}

/** Writes `bytes` at `offset` of the file at `path`. */
export function writeAt(path: string, offset: number, bytes: Uint8Array): void {
  const fd = openSync(path, 'r+');
  try {
    writeSync(fd, bytes, 0, bytes.length, offset);
  } finally {
    closeSync(fd);
  }
}

/**
 * Creates `path` of `size` bytes: every 4 KiB sector a distinct pattern,
 * except the log region (zeros) and HOLE (never written, sparse). Returns
 * its contents.
 */
export function makeLogFile(path: string, size = FILE_SIZE): Buffer {
  const fd = openSync(path, 'wx');
  try {
    for (let off = 0; off < size; off += SECTOR) {
      const inLog = off >= LOG_OFFSET && off < LOG_OFFSET + LOG_LENGTH;
      const inHole = off >= HOLE.offset && off < HOLE.offset + HOLE.length;
      if (!inLog && !inHole) writeSync(fd, sector(1_000_000 + off / SECTOR), 0, SECTOR, off);
    }
    ftruncateSync(fd, size);
  } finally {
    closeSync(fd);
  }
  return readFileSync(path);
}

/** Writes `entry` into the log of `path` at log position `position`, wrapping past the log's end. */
export function placeEntry(path: string, position: number, entry: Uint8Array, logOffset = LOG_OFFSET, logLength = LOG_LENGTH): void {
  const first = Math.min(entry.length, logLength - position);
  writeAt(path, logOffset + position, entry.subarray(0, first));
  if (first < entry.length) writeAt(path, logOffset, entry.subarray(first));
}

/** One entry of a test sequence. encodeLogEntry puts zeroes before writes, so they replay first. */
export interface EntrySpec {
  writes?: { offset: number; data: Uint8Array }[];
  zeroes?: { offset: number; length: number }[];
  /** Defaults: the start of the sequence, FILE_SIZE, FILE_SIZE. */
  tail?: number;
  flushedFileOffset?: number;
  lastFileOffset?: number;
  padSectors?: number;
}

/**
 * Encodes `entries` with sequence numbers from `firstSeq` and places them one
 * after another from log position `start` (wrapping), each naming `start` as
 * its tail unless it says otherwise. Returns their positions and bytes.
 */
export function placeSequence(
  path: string,
  opts: { start: number; firstSeq: bigint; entries: EntrySpec[]; guid?: Uint8Array; logLength?: number; logOffset?: number },
): { positions: number[]; bytes: Uint8Array[] } {
  const logLength = opts.logLength ?? LOG_LENGTH;
  const positions: number[] = [];
  const bytes: Uint8Array[] = [];
  let pos = opts.start;
  opts.entries.forEach((e, i) => {
    const entry = encodeLogEntry({
      logGuid: opts.guid ?? GUID,
      sequenceNumber: opts.firstSeq + BigInt(i),
      tail: e.tail ?? opts.start,
      flushedFileOffset: e.flushedFileOffset ?? FILE_SIZE,
      lastFileOffset: e.lastFileOffset ?? FILE_SIZE,
      writes: e.writes ?? [],
      zeroes: e.zeroes ?? [],
      padSectors: e.padSectors,
    });
    placeEntry(path, pos, entry, opts.logOffset ?? LOG_OFFSET, logLength);
    positions.push(pos);
    bytes.push(entry);
    pos = (pos + entry.length) % logLength;
  });
  return { positions, bytes };
}

/** The model: `base` with each entry's zeroes then writes applied in order, grown with zeros to `size`. */
export function model(base: Uint8Array, entries: EntrySpec[], size = base.length): Buffer {
  const out = Buffer.alloc(Math.max(size, base.length));
  out.set(base);
  for (const e of entries) {
    for (const z of e.zeroes ?? []) out.fill(0, z.offset, z.offset + z.length);
    for (const w of e.writes ?? []) out.set(w.data, w.offset);
  }
  return out;
}

/** Recomputes the checksum of an entry a test has changed; returns it. */
export function rechecksum(entry: Uint8Array): Uint8Array {
  new DataView(entry.buffer, entry.byteOffset).setUint32(4, logEntryChecksum(entry), true);
  return entry;
}

/** An ImageFile over bytes in memory, for fuzzing without disk I/O (writes grow it; all of it is data). */
export class MemoryFile implements ImageFile {
  constructor(
    public bytes: Uint8Array,
    readonly path = 'memory',
  ) {}

  get size(): number {
    return this.bytes.length;
  }

  async read(buf: Uint8Array, offset: number): Promise<void> {
    if (offset < 0 || offset + buf.length > this.bytes.length) throw new DiskImageError('CORRUPT', `read of ${buf.length} at ${offset} past ${this.bytes.length}`);
    buf.set(this.bytes.subarray(offset, offset + buf.length));
  }

  async write(buf: Uint8Array, offset: number): Promise<void> {
    if (offset + buf.length > this.bytes.length) await this.truncate(offset + buf.length);
    this.bytes.set(buf, offset);
  }

  async truncate(size: number): Promise<void> {
    const next = new Uint8Array(size);
    next.set(this.bytes.subarray(0, Math.min(size, this.bytes.length)));
    this.bytes = next;
  }

  async sync(): Promise<void> {}

  async dataRanges(offset: number, length: number): Promise<Range[]> {
    const end = Math.min(offset + length, this.bytes.length);
    return end > offset ? [{ offset, length: end - offset }] : [];
  }

  async close(): Promise<void> {}
}
