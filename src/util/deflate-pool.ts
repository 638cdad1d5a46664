import { availableParallelism } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Worker } from 'node:worker_threads';

/**
 * A young-generation collection of the calling thread, run after each
 * result: the job objects and result views a batch leaves are freed at
 * once instead of piling up (measured: peak RSS 95-98 MiB with it, 100-106
 * without, docs/bench.md). Needs --expose-gc, which is set for the process
 * (new contexts then see `gc`).
 */
function youngCollector(): () => void {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as (options: { type: 'minor' }) => void;
  return () => gc({ type: 'minor' });
}

/**
 * The worker's code, run with `eval` so it needs no file of its own next to
 * the bundled CLI. It compresses each unit of a batch with zlib (RFC 1950,
 * default level), then frames them back to back in the batch's own buffer
 * (a larger one only if they would not fit): a 12-byte marker (the unit's
 * `lba` as u64 LE and the compressed length as u32 LE), the compressed
 * bytes, zeros up to a whole sector. It hands the buffer back with the
 * framed length and where each unit starts, in sectors. Then it collects
 * its young garbage: V8 frees zlib's output buffers only after 64 MiB of
 * them by itself (external memory).
 */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { deflateSync } = require('node:zlib');
require('node:v8').setFlagsFromString('--expose-gc');
const collect = require('node:vm').runInNewContext('gc');
parentPort.on('message', ({ data, unitBytes, lbas }) => {
  const zs = lbas.map((_, k) => deflateSync(new Uint8Array(data, k * unitBytes, unitBytes)));
  const need = zs.reduce((n, z) => n + Math.ceil((12 + z.length) / 512) * 512, 0);
  const buffer = need <= data.byteLength ? data : new ArrayBuffer(need);
  const out = new Uint8Array(buffer);
  const view = new DataView(buffer);
  out.fill(0, 0, need);
  const starts = [];
  let at = 0;
  zs.forEach((z, k) => {
    view.setBigUint64(at, BigInt(lbas[k]), true);
    view.setUint32(at + 8, z.length, true);
    out.set(z, at + 12);
    starts.push(at / 512);
    at += Math.ceil((12 + z.length) / 512) * 512;
  });
  parentPort.postMessage({ buffer, length: need, starts }, [buffer]);
  collect({ type: 'minor' });
});
`;

/** Heap limits of a worker: it holds a batch or two, never more. */
const WORKER_LIMITS = { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 32 };

/**
 * A batch of equal-sized units to compress: `data` starts with
 * `lbas.length` units of `unitBytes` each; a buffer a sector per unit
 * larger lets the results come back in it.
 */
export interface DeflateJob {
  data: Uint8Array;
  unitBytes: number;
  /** What each unit's marker records (VMDK: its first sector in the guest). */
  lbas: number[];
}

/** A compressed batch: the framed units back to back (in the job's buffer when they fit), and the sector each starts at within `out`. */
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
      w.on('message', (r: { buffer: ArrayBuffer; length: number; starts: number[] }) => this.done(w, { out: new Uint8Array(r.buffer, 0, r.length), starts: r.starts }));
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
    p.resolve(r);
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
