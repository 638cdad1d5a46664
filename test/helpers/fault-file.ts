import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { DiskFile } from '../../src/io/file.js';
import type { Range } from '../../src/io/byte-source.js';
import type { FileOpener, ImageFile, OpenMode } from '../../src/io/image-file.js';
import { prng } from './prng.js';
import { vhdChecksum } from '../../src/formats/vhd/checksum.js';
import { FOOTER_CHECKSUM_OFFSET, hasFooterCookie } from '../../src/formats/vhd/footer.js';

/** One thing done to a file through the recording layer. */
export type FileEvent =
  | { kind: 'write'; path: string; offset: number; data: Buffer }
  | { kind: 'truncate'; path: string; size: number }
  | { kind: 'sync'; path: string };

/** A file opened through a Recorder: works normally and logs every write, truncate and fsync. */
class RecordingFile implements ImageFile {
  constructor(
    private readonly inner: ImageFile,
    private readonly events: FileEvent[],
  ) {}

  get path(): string {
    return this.inner.path;
  }

  get size(): number {
    return this.inner.size;
  }

  read(buf: Uint8Array, offset: number): Promise<void> {
    return this.inner.read(buf, offset);
  }

  async write(buf: Uint8Array, offset: number): Promise<void> {
    this.events.push({ kind: 'write', path: this.path, offset, data: Buffer.from(buf) });
    await this.inner.write(buf, offset);
  }

  async truncate(size: number): Promise<void> {
    this.events.push({ kind: 'truncate', path: this.path, size });
    await this.inner.truncate(size);
  }

  async sync(): Promise<void> {
    await this.inner.sync();
    this.events.push({ kind: 'sync', path: this.path });
  }

  async dataRanges(offset: number, length: number): Promise<Range[]> {
    return this.inner.dataRanges(offset, length);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/**
 * Records what an operation writes. Pass `opener` as `openFile`; files opened
 * read-only are not wrapped. `snapshot` the files first, then replay cuts.
 */
export class Recorder {
  readonly events: FileEvent[] = [];
  readonly opener: FileOpener = async (path: string, mode: OpenMode) => {
    const f = await DiskFile.open(path, mode);
    return mode === 'read' ? f : new RecordingFile(f, this.events);
  };
}

/** The contents of files before an operation, by path. */
export function snapshot(paths: string[]): Map<string, Buffer> {
  return new Map(paths.map((p) => [p, readFileSync(p)]));
}

function apply(files: Map<string, Buffer>, e: FileEvent, tearAt?: number): void {
  if (e.kind === 'sync') return;
  let buf = files.get(e.path) ?? Buffer.alloc(0);
  if (e.kind === 'truncate') {
    const out = Buffer.alloc(e.size);
    buf.copy(out, 0, 0, Math.min(buf.length, e.size));
    files.set(e.path, out);
    return;
  }
  const data = tearAt === undefined ? e.data : e.data.subarray(0, tearAt);
  if (buf.length < e.offset + data.length) {
    const grown = Buffer.alloc(e.offset + data.length);
    buf.copy(grown);
    buf = grown;
  }
  data.copy(buf, e.offset);
  files.set(e.path, buf);
}

/** A state the files could be in after a power cut, and how it was made. */
export interface CrashState {
  description: string;
  files: Map<string, Buffer>;
}

/** True when `buf` (a VHD file) ends in a footer with its cookie and a valid checksum, as libvhdi, Xen and Hyper-V need. */
export function endsInVhdFooter(buf: Buffer): boolean {
  if (buf.length < 512) return false;
  const footer = buf.subarray(buf.length - 512);
  return hasFooterCookie(footer) && footer.readUInt32BE(FOOTER_CHECKSUM_OFFSET) === vhdChecksum(footer, FOOTER_CHECKSUM_OFFSET);
}

/**
 * Throws naming each VHD file (by its .vhd name) that ended in a valid footer
 * before the operation but does not at this flush point.
 */
function checkVhdFooters(initial: Map<string, Buffer>, files: Map<string, Buffer>, at: string): void {
  for (const [path, buf] of files) {
    if (!path.endsWith('.vhd') || !endsInVhdFooter(initial.get(path) ?? Buffer.alloc(0))) continue;
    if (!endsInVhdFooter(buf)) throw new Error(`${at}: ${path} does not end in a valid footer (libvhdi could not open it)`);
  }
}

/**
 * Every state a power cut could leave, cut at each flush point: everything
 * before the cut's fsync is on disk; of the writes after it (up to the next
 * fsync) none, all, random subsets in any order, and each one torn at a
 * sector boundary (a prefix of it on disk) with the earlier ones kept. At
 * each flush point every VHD that ended in a valid footer before must still
 * end in one (other readers look only there).
 */
export function* crashStates(initial: Map<string, Buffer>, events: FileEvent[], subsets = 3): Iterable<CrashState> {
  const syncs = [-1, ...events.flatMap((e, i) => (e.kind === 'sync' ? [i] : []))];
  for (let s = 0; s < syncs.length; s++) {
    const durable = new Map([...initial].map(([p, b]) => [p, Buffer.from(b)]));
    for (let i = 0; i <= syncs[s]!; i++) apply(durable, events[i]!);
    const end = s + 1 < syncs.length ? syncs[s + 1]! : events.length;
    const pending = events.slice(syncs[s]! + 1, end).filter((e) => e.kind !== 'sync');
    const at = `after flush ${s} of ${syncs.length - 1}`;
    checkVhdFooters(initial, durable, at);
    yield { description: `${at}, no later write`, files: durable };
    if (pending.length === 0) continue;
    const all = new Map([...durable].map(([p, b]) => [p, Buffer.from(b)]));
    for (const e of pending) apply(all, e);
    yield { description: `${at}, all ${pending.length} later writes`, files: all };
    const rand = prng(s + 1);
    for (let k = 0; k < subsets; k++) {
      const some = new Map([...durable].map(([p, b]) => [p, Buffer.from(b)]));
      for (const e of pending) if (rand() < 0.5) apply(some, e);
      yield { description: `${at}, random subset ${k}`, files: some };
    }
    for (let i = 0; i < pending.length; i++) {
      const e = pending[i]!;
      if (e.kind !== 'write' || e.data.length <= 512) continue;
      const torn = new Map([...durable].map(([p, b]) => [p, Buffer.from(b)]));
      pending.slice(0, i).forEach((x) => apply(torn, x));
      apply(torn, e, Math.floor(e.data.length / 1024) * 512);
      yield { description: `${at}, write ${i} torn`, files: torn };
    }
  }
}

/** Writes a crash state's files into `dir` under their base names; returns the new paths by original path. */
export async function materialise(state: CrashState, dir: string): Promise<Map<string, string>> {
  await mkdir(dir, { recursive: true });
  const out = new Map<string, string>();
  for (const [p, b] of state.files) {
    const q = join(dir, basename(p));
    await writeFile(q, b);
    out.set(p, q);
  }
  return out;
}
