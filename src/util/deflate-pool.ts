import { availableParallelism } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Worker } from 'node:worker_threads';

/**
 * A young-generation collection: the compressed batches a pool hands back
 * are external memory, which V8 reclaims by itself only after 64 MiB of it
 * per thread; collecting each batch's garbage as it goes keeps a
 * conversion's peak RSS under 100 MiB (docs/bench.md). Needs --expose-gc,
 * which is set for the process (new contexts then see `gc`).
 */
function youngCollector(): () => void {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as (options: { type: 'minor' }) => void;
  return () => gc({ type: 'minor' });
}

/**
 * The worker's code, run with `eval` so it needs no file of its own next to
 * the bundled CLI. It compresses each unit of a batch with zlib (RFC 1950,
 * default level) and frames it: a 12-byte marker (the unit's `lba` as u64 LE
 * and the compressed length as u32 LE), the compressed bytes, zeros up to a
 * whole sector. It returns the framed batch and where each unit starts, in
 * sectors from the batch's start. Then it collects its young garbage: each
 * batch leaves a MiB or more of zlib output buffers, which V8 frees only
 * after 64 MiB of them by itself (external memory), per worker.
 */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { deflateSync } = require('node:zlib');
require('node:v8').setFlagsFromString('--expose-gc');
const collect = require('node:vm').runInNewContext('gc');
parentPort.on('message', ({ data, unitBytes, lbas }) => {
  const parts = [];
  const starts = [];
  let sectors = 0;
  for (let k = 0; k < lbas.length; k++) {
    const z = deflateSync(new Uint8Array(data, k * unitBytes, unitBytes));
    const framed = Buffer.alloc(Math.ceil((12 + z.length) / 512) * 512);
    framed.writeBigUInt64LE(BigInt(lbas[k]), 0);
    framed.writeUInt32LE(z.length, 8);
    z.copy(framed, 12);
    starts.push(sectors);
    sectors += framed.length / 512;
    parts.push(framed);
  }
  const out = new Uint8Array(sectors * 512);
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  parentPort.postMessage({ out, starts }, [out.buffer]);
  collect({ type: 'minor' });
});
`;

/** Heap limits of a worker: it holds a batch or two, never more. */
const WORKER_LIMITS = { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 32 };

/** A batch of equal-sized units to compress: `data` holds `lbas.length` units of `unitBytes` each. */
export interface DeflateJob {
  data: Uint8Array;
  unitBytes: number;
  /** What each unit's marker records (VMDK: its first sector in the guest). */
  lbas: number[];
}

/** A compressed batch: the framed units back to back, and the sector each starts at within `out`. */
export interface DeflateResult {
  out: Uint8Array;
  starts: number[];
}

interface Pending {
  job: DeflateJob;
  resolve: (r: DeflateResult) => void;
  reject: (err: unknown) => void;
}

/**
 * Worker threads that compress batches with zlib, one per core
 * (os.availableParallelism). Jobs queue when every worker is busy; results
 * come back per job, so the caller keeps its own order. Only busy workers
 * hold a reference: an abandoned pool does not keep the process alive. `data` is transferred
 * (the caller must not reuse it).
 */
export class DeflatePool {
  private readonly idle: Worker[] = [];
  private readonly busy = new Map<Worker, Pending>();
  private readonly queue: Pending[] = [];
  private failure: unknown;
  private readonly collect = youngCollector();

  constructor(readonly size = availableParallelism()) {
    for (let i = 0; i < size; i++) {
      const w = new Worker(WORKER_SOURCE, { eval: true, resourceLimits: WORKER_LIMITS });
      w.on('message', (r: DeflateResult) => this.done(w, r));
      w.on('error', (err) => this.fail(w, err));
      // Idle workers hold no reference (after the listeners, which would take one again).
      w.unref();
      this.idle.push(w);
    }
  }

  /** Compresses `job` on the next free worker. */
  run(job: DeflateJob): Promise<DeflateResult> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.queue.push({ job, resolve, reject });
      this.dispatch();
    });
  }

  /** Stops every worker. */
  async close(): Promise<void> {
    await Promise.all([...this.idle, ...this.busy.keys()].map((w) => w.terminate()));
  }

  private dispatch(): void {
    while (this.idle.length > 0 && this.queue.length > 0) {
      const w = this.idle.pop()!;
      const p = this.queue.shift()!;
      this.busy.set(w, p);
      // A busy worker keeps the process alive until its result is in.
      w.ref();
      const { data, unitBytes, lbas } = p.job;
      const buffer = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength ? data.buffer : data.slice().buffer;
      w.postMessage({ data: buffer, unitBytes, lbas }, [buffer as ArrayBuffer]);
    }
  }

  private done(w: Worker, r: DeflateResult): void {
    const p = this.busy.get(w)!;
    this.busy.delete(w);
    w.unref();
    this.idle.push(w);
    p.resolve({ out: r.out, starts: r.starts });
    this.dispatch();
    this.collect();
  }

  private fail(w: Worker, err: unknown): void {
    this.failure ??= err;
    this.busy.get(w)?.reject(err);
    this.busy.delete(w);
    for (const p of this.queue.splice(0)) p.reject(err);
  }
}
