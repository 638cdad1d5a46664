/**
 * A VHDX file seen as it will be once its log is replayed ([MS-VHDX] 2.3.3),
 * without changing it: the reader of a read-only file with a pending log
 * reads its headers, regions and BAT through this instead of the file. The
 * overlay is the LogReplay itself (its sectors and zero ranges), so memory
 * is bounded by the size of the log.
 */
import { DiskImageError } from '../../errors.js';
import type { Range } from '../../io/byte-source.js';
import type { ImageFile } from '../../io/image-file.js';
import { LOG_SECTOR } from './constants.js';
import { resolveReplay, type LogReplay } from './log-updates.js';

/** Index of the first of `ranges` (sorted, disjoint) that ends after `pos`. */
function firstEndingAfter(ranges: readonly Range[], pos: number): number {
  let lo = 0;
  let hi = ranges.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ranges[mid]!.offset + ranges[mid]!.length > pos) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** Sorts ranges and joins those that overlap or touch. */
function mergeRanges(ranges: Range[]): Range[] {
  const out: Range[] = [];
  for (const r of ranges.sort((a, b) => a.offset - b.offset)) {
    const last = out[out.length - 1];
    if (last && r.offset <= last.offset + last.length) last.length = Math.max(last.length, r.offset + r.length - last.offset);
    else if (r.length > 0) out.push({ ...r });
  }
  return out;
}

/**
 * A read-only ImageFile that reads `file` with `replay` applied: its zero
 * ranges read as zeros, its sectors as their data, and the file as long as
 * max(file.size, lastFileOffset) (zeros past the real end). The underlying
 * file is never written; write and truncate are `USAGE` errors. Closing it
 * closes the underlying file.
 */
export class ReplayedFile implements ImageFile {
  /** The file's size after replay: max(file.size, lastFileOffset), and the end of any update past both. */
  readonly size: number;
  private readonly writes: (Range & { data: Uint8Array })[];
  private readonly zeroes: Range[];

  constructor(
    private readonly file: ImageFile,
    replay: LogReplay,
  ) {
    const resolved = resolveReplay(replay);
    this.writes = resolved.writes.map((w) => ({ offset: w.offset, length: LOG_SECTOR, data: w.data }));
    this.zeroes = resolved.zeroes;
    this.size = Math.max(file.size, resolved.size);
  }

  get path(): string {
    return this.file.path;
  }

  /** Reads exactly buf.length bytes at `offset` as they will be after replay; past the end is `CORRUPT`, as for a file. */
  async read(buf: Uint8Array, offset: number): Promise<void> {
    const end = offset + buf.length;
    if (!Number.isSafeInteger(offset) || offset < 0 || end > this.size) {
      throw new DiskImageError('CORRUPT', `${this.path}: read of ${buf.length} bytes at ${offset} ran past the end of the replayed file (${this.size} bytes)`, {
        path: this.path,
        offset,
        length: buf.length,
        fileSize: this.size,
      });
    }
    const inner = Math.max(0, Math.min(buf.length, this.file.size - offset));
    if (inner > 0) await this.file.read(buf.subarray(0, inner), offset);
    buf.fill(0, inner);
    for (let i = firstEndingAfter(this.zeroes, offset); i < this.zeroes.length && this.zeroes[i]!.offset < end; i++) {
      const z = this.zeroes[i]!;
      buf.fill(0, Math.max(z.offset, offset) - offset, Math.min(z.offset + z.length, end) - offset);
    }
    for (let i = firstEndingAfter(this.writes, offset); i < this.writes.length && this.writes[i]!.offset < end; i++) {
      const w = this.writes[i]!;
      const from = Math.max(w.offset, offset);
      buf.set(w.data.subarray(from - w.offset, Math.min(w.offset + w.length, end) - w.offset), from - offset);
    }
  }

  /** Refused: the replayed view is read-only (replay the log in place to change the file). */
  write(): Promise<void> {
    return Promise.reject(new DiskImageError('USAGE', `${this.path}: a file read through its pending VHDX log is read-only; replay the log in place to change it`, { path: this.path }));
  }

  /** Refused, as write. */
  truncate(): Promise<void> {
    return this.write();
  }

  /** Nothing to flush: nothing is ever written. */
  async sync(): Promise<void> {}

  /**
   * The data runs of [offset, offset+length) after replay: the file's own
   * runs minus the zero ranges (they read as zeros, as holes do), plus the
   * replayed sectors.
   */
  async dataRanges(offset: number, length: number): Promise<Range[]> {
    const end = Math.min(offset + length, this.size);
    if (!(end > offset)) return [];
    const out: Range[] = [];
    const base = offset < this.file.size ? await this.file.dataRanges(offset, Math.min(end, this.file.size) - offset) : [];
    for (const r of base) {
      let pos = Math.max(r.offset, offset);
      const rEnd = Math.min(r.offset + r.length, end);
      for (let i = firstEndingAfter(this.zeroes, pos); i < this.zeroes.length && this.zeroes[i]!.offset < rEnd; i++) {
        const z = this.zeroes[i]!;
        if (z.offset > pos) out.push({ offset: pos, length: z.offset - pos });
        pos = Math.max(pos, z.offset + z.length);
      }
      if (pos < rEnd) out.push({ offset: pos, length: rEnd - pos });
    }
    for (let i = firstEndingAfter(this.writes, offset); i < this.writes.length && this.writes[i]!.offset < end; i++) {
      const w = this.writes[i]!;
      const from = Math.max(w.offset, offset);
      out.push({ offset: from, length: Math.min(w.offset + w.length, end) - from });
    }
    return mergeRanges(out);
  }

  /** Closes the underlying file; safe to call twice. */
  close(): Promise<void> {
    return this.file.close();
  }
}
