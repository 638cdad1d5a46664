import { DiskImageError } from '../src/errors.js';
import { copyImage } from '../src/engine/copy.js';
import { createImage, openImage } from '../src/formats/registry.js';
import type { DiskImage } from '../src/formats/types.js';
import { MemoryFile } from '../src/io/memory-file.js';
import { isAllZero } from '../src/util/zero.js';
import type { MemorySandbox } from './sandbox.js';
import type { FuzzTarget } from './seeds.js';

/** Most guest bytes read per mutant: a mutated size cannot make one run slow, yet the seeds' whole guest view (4 MiB) is read. */
const READ_CAP = 64 * 1024 * 1024;

/** Most extents walked per mutant. */
const EXTENT_CAP = 100_000;

/** What one mutant did: opened and was read, refused with a DiskImageError code, or a finding (crash, hang, memory) with its text. */
export type Outcome = ({ kind: 'ok' } | { kind: 'refused'; code: string } | { kind: 'crash' | 'hang' | 'memory'; detail: string }) & Coverage;

/** What the worker adds to an outcome: the blocks of vdisk's code first reached since the last take (when the message asked for a take), and the worker's own memory after the run. */
export interface Coverage {
  fresh?: string[];
  /** Bytes of the worker's V8 heap in use plus its external memory (its own ArrayBuffers; not the mutant's shared files), after the run. */
  memory?: number;
}

/**
 * Whether the worker takes coverage after a mutant: 'none' (the counters
 * keep counting), 'probe' (new blocks since the last take are reported, not
 * yet counted as seen) or 'commit' (reported and counted as seen).
 */
export type CoverageTake = 'none' | 'probe' | 'commit';

/** One mutant of a batch: its files (name to bytes), the name to open, and the coverage take after it. */
export interface BatchItem {
  files: [string, Uint8Array][];
  top: string;
  coverage: CoverageTake;
}

/** What the harness posts to the worker: mutants of one target, run in order; the worker answers with their outcomes, in order. */
export interface BatchMessage {
  target: FuzzTarget;
  items: BatchItem[];
}

/** Most bytes of each zero extent read back to see that they are zeros. */
const ZERO_CHECK_CAP = 4 * 1024 * 1024;

/** The buffer expectZeros reads into, made once per worker: allocating (and zeroing) 4 MiB per extent was most of a mutant's time. */
const zeroCheck = new Uint8Array(ZERO_CHECK_CAP);

/** Reads [offset, offset+length) of `image` (length at most ZERO_CHECK_CAP) and throws (a crash finding) unless every byte is zero, as its extents said. */
async function expectZeros(image: DiskImage, offset: number, length: number): Promise<void> {
  const buf = zeroCheck.subarray(0, length);
  await image.readAt(buf, offset);
  if (isAllZero(buf)) return;
  const at = buf.findIndex((b) => b !== 0);
  throw new Error(`extents say ${length} bytes at ${offset} read as zeros, but byte ${offset + at} is ${buf[at]}`);
}

/** The buffers run reads the guest view and its raw conversion into, 1 MiB at a time, made once per worker. */
const readBuffers = [new Uint8Array(1024 * 1024), new Uint8Array(1024 * 1024)] as const;

/**
 * Opens the sandbox's `top`, describes, checks, maps and reads it (bounded),
 * converts it to raw in memory when the whole guest view is read, compares
 * the two byte for byte (a difference is a crash finding), and closes it.
 */
async function run(sandbox: MemorySandbox, top: string): Promise<void> {
  const image = await openImage(top, { openFile: sandbox.opener, onWarning: () => undefined });
  let raw: DiskImage | undefined;
  try {
    image.describe();
    await image.check();
    let n = 0;
    for await (const e of image.extents({ offset: 0, length: Math.min(image.virtualSize, READ_CAP) })) {
      if (!(e.length > 0 && e.offset >= 0 && e.offset + e.length <= image.virtualSize)) throw new Error(`bad extent ${JSON.stringify(e)}`);
      if (e.kind !== 'data' && (e.kind === 'zero' || !image.parent)) await expectZeros(image, e.offset, Math.min(e.length, ZERO_CHECK_CAP));
      if (++n >= EXTENT_CAP) break;
    }
    if (image.virtualSize <= READ_CAP) raw = await toRaw(image);
    const [buf, copied] = readBuffers;
    for (let pos = 0; pos < Math.min(image.virtualSize, READ_CAP); pos += buf.length) {
      const n = Math.min(buf.length, image.virtualSize - pos);
      await image.readAt(buf.subarray(0, n), pos);
      if (!raw) continue;
      await raw.readAt(copied.subarray(0, n), pos);
      if (Buffer.compare(buf.subarray(0, n), copied.subarray(0, n)) === 0) continue;
      const at = buf.findIndex((b, i) => b !== copied[i]);
      throw new Error(`converted to raw, byte ${pos + at} is ${copied[at]}, but the image reads ${buf[at]} there`);
    }
  } finally {
    await raw?.close();
    await image.close();
  }
}

/** The copy engine's buffers, kept for every conversion of this worker: making and zeroing them was a seventh of a mutant's time. */
const copyBuffers: Uint8Array[] = [];

/** The image converted to raw in memory by the real copy engine (copyImage into a raw image over a MemoryFile), as `convert` writes it. */
async function toRaw(image: DiskImage): Promise<DiskImage> {
  const raw = await createImage('(memory).raw', 'raw', { virtualSize: image.virtualSize, options: {}, openFile: async () => new MemoryFile() });
  await copyImage(image, raw, { buffers: copyBuffers });
  return raw;
}

/** Runs one image mutant loaded in `sandbox`. */
export function exerciseInSandbox(sandbox: MemorySandbox, top: string): Promise<Outcome> {
  return judge(run(sandbox, top));
}

/** The outcome of one run: a DiskImageError is a refusal (what hostile input must get), any other exception a crash. */
export function judge(running: Promise<void>): Promise<Outcome> {
  return running.then(
    (): Outcome => ({ kind: 'ok' }),
    (err: unknown): Outcome => {
      if (err instanceof DiskImageError) return { kind: 'refused', code: err.code };
      return { kind: 'crash', detail: err instanceof Error ? `${err.name}: ${err.message}\n${err.stack}` : String(err) };
    },
  );
}
