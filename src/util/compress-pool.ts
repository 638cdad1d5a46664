import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { compressBound, type CompressJob, type CompressPoolOptions, type CompressResult, type Compressor, type UnitFraming } from './compressor.js';

/** The worker's message in and out. */
interface WorkerJob {
  buffer: ArrayBuffer;
  unitBytes: number;
  count: number;
  /** Output bytes the batch may need (batchBytes). */
  need: number;
}
interface WorkerReply {
  buffer: ArrayBuffer;
  length: number;
  ats: number[];
  /** Compressed lengths; a stored unit's is negative (minus the unit's length). */
  lengths: number[];
}

/**
 * The worker's code, run with `eval` so it needs no file of its own next to
 * the bundled CLI. It keeps one compressor for its life and an output
 * buffer. zlib units are compressed by the compressor's native handle
 * (`writeSync`, what zlib.deflateSync itself calls) straight into the output
 * buffer behind their head room, with `Z_FINISH`, then the compressor is
 * reset for the next; zstd units go through two buffers malloc'ed once in
 * the WebAssembly module's memory (ZSTD_compress). The job's input buffer
 * then becomes the worker's output buffer for the next job: buffers swap,
 * none is allocated per job or per unit, and the worker makes no garbage
 * beyond its small messages. Jobs wait for the zstd module to load.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { codec, head, align, storeFrom, zstdEntry } = workerData;
function deflater() {
  const zlib = require('node:zlib');
  const engine = codec === 'zlib' ? new zlib.Deflate() : new zlib.DeflateRaw({ windowBits: 12 });
  let failure = null;
  engine.on('error', (err) => { failure = err; });
  const handle = engine._handle;
  const state = engine._writeState;
  const FINISH = zlib.constants.Z_FINISH;
  return (input, from, unitBytes, out, to) => {
    const space = out.byteLength - to;
    handle.writeSync(FINISH, input, from, unitBytes, out, to, space);
    if (failure) throw failure;
    if (state[1] !== 0 || state[0] === 0) throw new Error('a unit did not compress within its bound');
    engine.reset();
    return space - state[0];
  };
}
async function zstdCompressor() {
  const path = require('node:path');
  await require(zstdEntry).init();
  const M = require(path.join(path.dirname(zstdEntry), 'module.js')).Module;
  let capacity = 0, src = 0, dst = 0, bound = 0;
  return (input, from, unitBytes, out, to) => {
    if (unitBytes > capacity) {
      if (capacity) { M._free(src); M._free(dst); }
      capacity = unitBytes;
      bound = M._ZSTD_compressBound(unitBytes);
      src = M._malloc(unitBytes);
      dst = M._malloc(bound);
    }
    M.HEAPU8.set(input.subarray(from, from + unitBytes), src);
    const n = M._ZSTD_compress(dst, bound, src, unitBytes, 3);
    if (M._ZSTD_isError(n)) throw new Error('zstd could not compress a unit');
    out.set(M.HEAPU8.subarray(dst, dst + n), to);
    return n;
  };
}
const ready = codec === 'zstd' ? zstdCompressor() : Promise.resolve(deflater());
let scratch = new Uint8Array(0);
parentPort.on('message', ({ buffer, unitBytes, count, need }) => ready.then((compress) => {
  const input = new Uint8Array(buffer);
  const out = scratch.byteLength >= need ? scratch : new Uint8Array(Math.max(need, input.byteLength));
  const ats = [];
  const lengths = [];
  let at = 0;
  for (let k = 0; k < count; k++) {
    out.fill(0, at, at + head);
    let length = compress(input, k * unitBytes, unitBytes, out, at + head);
    if (storeFrom && length >= storeFrom) {
      out.set(input.subarray(k * unitBytes, (k + 1) * unitBytes), at + head);
      length = -unitBytes;
    }
    const used = Math.abs(length);
    const end = at + Math.ceil((head + used) / align) * align;
    out.fill(0, at + head + used, end);
    ats.push(at);
    lengths.push(length);
    at = end;
  }
  scratch = input;
  parentPort.postMessage({ buffer: out.buffer, length: at, ats, lengths }, [out.buffer]);
}));
`;

/** Where the zstd worker loads its WebAssembly encoder from (@bokuweb/zstd-wasm, resolved from this module). */
function zstdEntry(): string {
  return createRequire(import.meta.url).resolve('@bokuweb/zstd-wasm');
}

/** Heap limits of a worker: its heap holds a compressor and a message, never more. */
const WORKER_LIMITS = { maxYoungGenerationSizeMb: 1, maxOldGenerationSizeMb: 8 };

interface Pending {
  job: CompressJob;
  resolve: (r: CompressResult) => void;
  reject: (err: unknown) => void;
}

/**
 * Worker threads that compress batches of equal units, one per core.
 *
 * Memory is bounded by design, not by the garbage collector: a worker
 * compresses into a buffer it owns and hands that back, keeping the job's
 * buffer as its next output buffer, so the buffers in play are the caller's
 * batch buffers plus one per worker, whatever the disk's size. A buffer
 * allocated per unit or per result (what zlib.deflateSync returns) is
 * external memory to V8, freed only when a collection happens to run: the
 * first version of this pool reached 160-200 MiB RSS that way and needed
 * explicit gc() calls (--expose-gc) after every batch to stay near 100 MiB.
 * A caller that sizes its batch buffers with `batchBytes` gets its results
 * back in buffers of the same size and can fill them again.
 *
 * Jobs queue when every worker is busy; results come back per job, so the
 * caller keeps its own order. Only busy workers hold a reference: an
 * abandoned pool does not keep the process alive.
 */
export class CompressPool implements Compressor {
  private readonly idle: Worker[] = [];
  private readonly busy = new Map<Worker, Pending>();
  private readonly queue: Pending[] = [];
  private failure: unknown;
  private closed = false;
  private readonly framing: UnitFraming;
  readonly size: number;

  constructor(opts: CompressPoolOptions) {
    this.framing = opts.framing ?? { head: 0, align: 1 };
    this.size = opts.workers ?? availableParallelism();
    const workerData = { codec: opts.codec, ...this.framing, storeFrom: opts.storeFrom ?? 0, zstdEntry: opts.codec === 'zstd' ? zstdEntry() : '' };
    for (let i = 0; i < this.size; i++) {
      const w = new Worker(WORKER_SOURCE, { eval: true, workerData, resourceLimits: WORKER_LIMITS });
      w.on('message', (r: WorkerReply) => this.done(w, r));
      w.on('error', (err) => this.fail(w, err));
      // Idle workers hold no reference (after the listeners, which would take one again).
      w.unref();
      this.idle.push(w);
    }
  }

  /** Bytes a batch of `count` units of `unitBytes` needs so that its result fits in a buffer of the same size (each unit at its compressBound, framed). */
  batchBytes(unitBytes: number, count: number): number {
    const { head, align } = this.framing;
    return count * Math.ceil((head + compressBound(unitBytes)) / align) * align;
  }

  /** Compresses `job` on the next free worker. */
  run(job: CompressJob): Promise<CompressResult> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new Error('the compression pool is closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ job, resolve, reject });
      this.dispatch();
    });
  }

  /**
   * Stops every worker: terminate() asks each thread to stop and the pool
   * lets go of it, without waiting for its 'exit'. Waiting was found to hang
   * now and then when the pool was closed right after it started (an
   * unreferenced idle worker, or one not yet online): the awaited promise
   * stayed open with the event loop empty, so a test runner cancelled the
   * test, and a CLI run would have ended there. The threads end on their
   * own within milliseconds (test/ops/stream-abort.test.ts counts them).
   */
  close(): Promise<void> {
    this.closed = true;
    for (const w of [...this.idle, ...this.busy.keys()]) void w.terminate();
    this.idle.length = 0;
    this.busy.clear();
    return Promise.resolve();
  }

  private dispatch(): void {
    while (this.idle.length > 0 && this.queue.length > 0) {
      const w = this.idle.pop()!;
      const p = this.queue.shift()!;
      this.busy.set(w, p);
      // A busy worker keeps the process alive until its result is in.
      w.ref();
      const { data, unitBytes, count } = p.job;
      const whole = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength;
      const buffer = (whole ? data.buffer : data.slice().buffer) as ArrayBuffer;
      const message: WorkerJob = { buffer, unitBytes, count, need: this.batchBytes(unitBytes, count) };
      w.postMessage(message, [buffer]);
    }
  }

  private done(w: Worker, r: WorkerReply): void {
    const p = this.busy.get(w);
    // A result that arrives after close is dropped with its worker.
    if (!p) return;
    this.busy.delete(w);
    w.unref();
    this.idle.push(w);
    p.resolve({ out: new Uint8Array(r.buffer, 0, r.length), units: r.ats.map((at, k) => ({ at, length: Math.abs(r.lengths[k]!), stored: r.lengths[k]! < 0 })) });
    this.dispatch();
  }

  private fail(w: Worker, err: unknown): void {
    this.failure ??= err;
    this.busy.get(w)?.reject(err);
    this.busy.delete(w);
    for (const p of this.queue.splice(0)) p.reject(err);
  }
}
