import { DiskImageError } from '../src/errors.js';
import { openImage } from '../src/formats/registry.js';
import type { MemorySandbox } from './sandbox.js';

/** Most guest bytes read per mutant: a mutated size cannot make one run slow, yet the seeds' whole guest view (4 MiB) is read. */
const READ_CAP = 64 * 1024 * 1024;

/** Most extents walked per mutant. */
const EXTENT_CAP = 100_000;

/** A mutant that ran longer than this (in ms) is a hang. */
export const HANG_MS = 5000;

/** RSS (bytes) over which a mutant counts as eating memory. */
export const MEMORY_LIMIT = 512 * 1024 * 1024;

/** What one mutant did: opened and was read, refused with a DiskImageError code, or a finding (crash, hang, memory) with its text. */
export type Outcome = { kind: 'ok' } | { kind: 'refused'; code: string } | { kind: 'crash' | 'hang' | 'memory'; detail: string };

/** Opens the sandbox's `top`, describes, checks, maps and reads it (bounded), and closes it. */
async function run(sandbox: MemorySandbox, top: string): Promise<void> {
  const image = await openImage(top, { openFile: sandbox.opener, onWarning: () => undefined });
  try {
    image.describe();
    await image.check();
    let n = 0;
    for await (const e of image.extents({ offset: 0, length: Math.min(image.virtualSize, READ_CAP) })) {
      if (!(e.length > 0 && e.offset >= 0 && e.offset + e.length <= image.virtualSize)) throw new Error(`bad extent ${JSON.stringify(e)}`);
      if (++n >= EXTENT_CAP) break;
    }
    const buf = new Uint8Array(1024 * 1024);
    for (let pos = 0; pos < Math.min(image.virtualSize, READ_CAP); pos += buf.length) {
      await image.readAt(buf.subarray(0, Math.min(buf.length, image.virtualSize - pos)), pos);
    }
  } finally {
    await image.close();
  }
}

/**
 * Exercises one mutant loaded in `sandbox`. A DiskImageError is a refusal
 * (what a hostile image must get); any other exception is a crash; a run
 * over HANG_MS is a hang (caught when it awaits: a synchronous loop stops
 * the whole harness, which the caller's own timeout then reports); an RSS
 * over MEMORY_LIMIT after it is a memory finding.
 */
export async function exercise(sandbox: MemorySandbox, top: string): Promise<Outcome> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<Outcome>((resolve) => {
    timer = setTimeout(() => resolve({ kind: 'hang', detail: `still running after ${HANG_MS} ms` }), HANG_MS);
  });
  const done = run(sandbox, top).then(
    (): Outcome => ({ kind: 'ok' }),
    (err: unknown): Outcome => {
      if (err instanceof DiskImageError) return { kind: 'refused', code: err.code };
      return { kind: 'crash', detail: err instanceof Error ? `${err.name}: ${err.message}\n${err.stack}` : String(err) };
    },
  );
  const outcome = await Promise.race([done, hang]);
  clearTimeout(timer);
  const rss = process.memoryUsage().rss;
  if (outcome.kind !== 'crash' && outcome.kind !== 'hang' && rss > MEMORY_LIMIT) return { kind: 'memory', detail: `RSS ${rss} bytes after the run` };
  return outcome;
}
