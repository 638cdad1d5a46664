/**
 * What replaying a VHDX log does to the file ([MS-VHDX] 2.3.3), as data:
 * the normalised replay that log.ts finds, and the resolution of updates in
 * order that both log.ts and a hand-made replay go through. Parsing the log
 * (log.ts) and applying a replay (replayed-file.ts, log-replay.ts) both
 * build on this file and not on each other.
 */
import { DiskImageError } from '../../errors.js';
import { LOG_SECTOR } from './constants.js';

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

/** One update in replay order: a 4 KiB sector of `data` at `start`, or zeros over [start, end). */
export interface Update {
  start: number;
  end: number;
  data?: Uint8Array;
}

/**
 * What a list of updates leaves behind when applied in order (later ones
 * win), as sorted disjoint 4 KiB writes and merged zero ranges. Boundaries
 * must be 4 KiB aligned. The pieces between boundaries are painted by the
 * updates from last to first, each piece once (a union-find of unpainted
 * pieces), so this is O(n log n) however the updates overlap.
 */
export function resolveUpdates(ops: Update[]): Pick<LogReplay, 'writes' | 'zeroes'> {
  const points = [...new Set(ops.flatMap((o) => [o.start, o.end]))].sort((a, b) => a - b);
  const index = new Map(points.map((p, i) => [p, i]));
  const next = Int32Array.from(points, (_, i) => i);
  const find = (i: number): number => {
    while (next[i] !== i) i = next[i] = next[next[i]!]!;
    return i;
  };
  const owner = new Int32Array(points.length).fill(-1);
  for (let j = ops.length - 1; j >= 0; j--) {
    const end = index.get(ops[j]!.end)!;
    for (let piece = find(index.get(ops[j]!.start)!); piece < end; piece = find(piece)) {
      owner[piece] = j;
      next[piece] = piece + 1;
    }
  }
  const writes: LogReplay['writes'] = [];
  const zeroes: LogReplay['zeroes'] = [];
  for (let piece = 0; piece + 1 < points.length; piece++) {
    const op = ops[owner[piece]!];
    if (!op) continue;
    const [start, end] = [points[piece]!, points[piece + 1]!];
    const last = zeroes[zeroes.length - 1];
    // A write is one aligned 4 KiB sector and no boundary falls inside it, so the piece is that whole sector.
    if (op.data) writes.push({ offset: start, data: op.data });
    else if (last && last.offset + last.length === start) last.length += end - start;
    else zeroes.push({ offset: start, length: end - start });
  }
  return { writes, zeroes };
}

/**
 * Checks a replay's shape (4 KiB sectors and ranges at 4 KiB-aligned safe
 * offsets; `USAGE` otherwise) and resolves it as zeroes first, then writes
 * in order. A replay from readActiveLog is already resolved and comes back
 * the same; this makes hand-made ones mean the same thing everywhere.
 */
export function resolveReplay(replay: LogReplay): Pick<LogReplay, 'writes' | 'zeroes'> & { size: number } {
  const aligned = (n: number) => Number.isSafeInteger(n) && n >= 0 && n % LOG_SECTOR === 0;
  const ops: Update[] = [];
  let size = replay.lastFileOffset;
  if (!Number.isSafeInteger(size) || size < 0) throw new DiskImageError('USAGE', `log replay lastFileOffset ${size} is not a safe integer`);
  for (const z of replay.zeroes) {
    if (!aligned(z.offset) || !aligned(z.length) || !aligned(z.offset + z.length)) {
      throw new DiskImageError('USAGE', `log replay zeroes at ${z.offset} (${z.length} bytes) are not 4 KiB aligned`);
    }
    if (z.length > 0) ops.push({ start: z.offset, end: z.offset + z.length });
    size = Math.max(size, z.offset + z.length);
  }
  for (const w of replay.writes) {
    if (!aligned(w.offset) || w.data.length !== LOG_SECTOR || !aligned(w.offset + LOG_SECTOR)) {
      throw new DiskImageError('USAGE', `log replay write at ${w.offset} of ${w.data.length} bytes is not one aligned 4 KiB sector`);
    }
    ops.push({ start: w.offset, end: w.offset + LOG_SECTOR, data: w.data });
    size = Math.max(size, w.offset + LOG_SECTOR);
  }
  return { ...resolveUpdates(ops), size };
}
