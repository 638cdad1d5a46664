import { basename, extname } from 'node:path';
import { DiskImageError } from '../errors.js';
import { dataTotal } from '../engine/chunks.js';
import type { ProgressFn } from '../engine/copy.js';
import { openImage } from '../formats/registry.js';
import type { DiskImage, OpenOptions } from '../formats/types.js';
import { CompressPool } from '../util/compress-pool.js';
import { isAllZero } from '../util/zero.js';
import { CHUNK_HEADER, sha256Hex, writeChunkHeader } from './chunk-object.js';
import { CHUNK_SIZE, checkName } from './layout.js';
import { Lease, type LeaseTiming } from './lease.js';
import { changedChunks } from './changed-chunks.js';
import { recordingOpener, sourceFiles, type SourceFiles } from './source-files.js';
import { openSource } from '../io/open-source.js';
import type { BackupCounts, Manifest } from './manifest.js';
import type { StoreOptions } from './open-store.js';
import { openRepository, type Repository } from './repository.js';
import { chunkCount, chunkLength, type SnapshotIndex } from './snapshot-index.js';
import { BACKUP_MAX_INDEX_ENTRIES, limitNote } from '../limits.js';

/** Options of `vdisk backup create`: the snapshot's name and how to open the image. */
export interface BackupOptions extends OpenOptions {
  format?: string;
  /** The snapshot's name (default: the image's file name without its extension). */
  name?: string;
  signal?: AbortSignal;
  /** Called with the bytes of data read so far, of the image's data bytes. */
  onProgress?: ProgressFn;
  /** Called with the gcs the backup waits for before it starts, once each. */
  onWait?: (holders: string[]) => void;
  /** Lease timing (tests shorten it). */
  timing?: LeaseTiming;
  /** How to reach the repository (an S3 endpoint). */
  store?: StoreOptions;
  /** Read and hash every data chunk, even those the incremental shortcut would skip. */
  full?: boolean;
}

/** Most JSON the source files may take in an index's metadata (whose limit is 64 KiB); a longer list is not recorded. */
const MAX_SOURCE_JSON = 48 * 1024;

/** The data ranges of one chunk, as [start, end) guest offsets. */
interface ChunkData {
  index: number;
  ranges: [number, number][];
}

/** The chunks of `image` that hold data extents, in order, each with its data ranges (zero and unallocated ranges are never listed). */
async function* dataByChunk(image: DiskImage): AsyncIterable<ChunkData> {
  let current: ChunkData | undefined;
  for await (const e of image.extents()) {
    if (e.kind !== 'data') continue;
    for (let pos = e.offset; pos < e.offset + e.length; ) {
      const index = Math.floor(pos / CHUNK_SIZE);
      const end = Math.min(e.offset + e.length, (index + 1) * CHUNK_SIZE);
      if (current?.index !== index) {
        if (current) yield current;
        current = { index, ranges: [] };
      }
      current.ranges.push([pos, end]);
      pos = end;
    }
  }
  if (current) yield current;
}

/** Reads chunk `c` of `image` into the start of `buffer`: its data ranges read, the rest zeroed. */
async function readChunk(image: DiskImage, c: ChunkData, buffer: ArrayBuffer): Promise<Uint8Array> {
  const start = c.index * CHUNK_SIZE;
  const buf = new Uint8Array(buffer, 0, chunkLength(c.index, image.virtualSize)).fill(0);
  await Promise.all(c.ranges.map(([a, b]) => image.readAt(buf.subarray(a - start, b - start), a)));
  return buf;
}

/**
 * Stores new chunks: each is compressed (zstd) on the pool's workers and
 * written under its digest, two per worker at most at once; `drain` waits
 * for all and rethrows the first failure. Chunks are read into buffers
 * sized for the pool (batchBytes), and each result comes back in one of
 * that size, which serves for a later read: memory is the buffers in
 * flight, not whatever the garbage collector has yet to free.
 */
class ChunkWriter {
  private readonly pool = new CompressPool({ codec: 'zstd', framing: { head: CHUNK_HEADER, align: 1 } });
  private readonly inFlight = new Set<Promise<void>>();
  private readonly free: ArrayBuffer[] = [];
  private readonly bufferBytes = this.pool.batchBytes(CHUNK_SIZE, 1);
  private failure: unknown;
  storedBytes = 0;

  constructor(private readonly repo: Repository) {}

  /** A buffer to read the next chunk into: one a result came back in, or a new one. */
  buffer(): ArrayBuffer {
    return this.free.pop() ?? new ArrayBuffer(this.bufferBytes);
  }

  /** Takes back a buffer from `buffer()` that was not given to `add`. */
  release(buffer: ArrayBuffer): void {
    this.free.push(buffer);
  }

  /** Queues the chunk in the first `length` bytes of `buffer` (transferred: the caller must not touch it again) for storage under `digest`. */
  async add(digest: string, buffer: ArrayBuffer, length: number): Promise<void> {
    while (this.inFlight.size >= this.pool.size * 2) await Promise.race(this.inFlight);
    if (this.failure) throw this.failure;
    // The whole buffer goes, so it is transferred, not copied; the worker reads only the unit.
    const task = this.pool
      .run({ data: new Uint8Array(buffer), unitBytes: length, count: 1 })
      .then(async ({ out, units }) => {
        const unit = units[0]!;
        const object = out.subarray(unit.at, unit.at + CHUNK_HEADER + unit.length);
        writeChunkHeader(object, length);
        if (await this.repo.putChunk(digest, object)) this.storedBytes += object.length;
        this.free.push(out.buffer as ArrayBuffer);
      })
      .catch((err: unknown) => void (this.failure ??= err));
    this.inFlight.add(task);
    void task.then(() => this.inFlight.delete(task));
  }

  /** Waits for every queued chunk to be stored (durably) and stops the workers. */
  async drain(): Promise<void> {
    await Promise.all(this.inFlight);
    await this.pool.close();
    if (this.failure) throw this.failure;
  }
}

/**
 * `vdisk backup create`: backs up the guest view of IMAGE (any format,
 * through its chain) into the repository at `location` as a new snapshot.
 * Only data extents are read, and of them only the chunks that may differ
 * from the previous snapshot of the same name (changed-chunks.ts: none when
 * the source files are unchanged, a child's own chunks when the previous
 * snapshot was of its parent). Each chunk read is hashed; all-zero chunks
 * are recorded as zero; a chunk equal to the previous snapshot's at that
 * place, or already in the repository, is reused; the rest are compressed
 * and stored. Then the index and the manifest are published, all under a
 * lease that keeps gc from sweeping meanwhile (lease.ts).
 */
export async function backupCreate(location: string, imagePath: string, opts: BackupOptions = {}): Promise<Manifest> {
  const repo = await openRepository(location, opts.store);
  const name = checkName(opts.name ?? basename(imagePath, extname(imagePath)), 'snapshot name');
  const opened = new Set<string>();
  const image = await openImage(imagePath, { ...opts, writable: false, openFile: recordingOpener(opts.openFile ?? openSource, opened) });
  try {
    const source = await sourceFiles(image.path, opened);
    const lease = await Lease.take(repo.store, 'sessions', 'gc', { timing: opts.timing, signal: opts.signal, onWait: opts.onWait });
    try {
      return await backupUnderLease(repo, image, { name, source }, lease, opts);
    } finally {
      await lease.release();
    }
  } finally {
    await image.close();
  }
}

/**
 * The backup itself, while `lease` keeps gc from sweeping: the previous
 * snapshot is looked up only now, since a chunk it names is safe to reuse
 * only while no gc can delete it.
 */
async function backupUnderLease(repo: Repository, image: DiskImage, what: { name: string; source?: SourceFiles }, lease: Lease, opts: BackupOptions): Promise<Manifest> {
  const { name, source } = what;
  const previous = await repo.latest(name);
  const last = previous && (await repo.loadIndex(previous));
  const before = last?.chunks ?? [];
  const changed = opts.full ? undefined : await changedChunks(image, source, last?.meta);
  const total = chunkCount(image.virtualSize);
  if (total > BACKUP_MAX_INDEX_ENTRIES) throw new DiskImageError('UNSUPPORTED', `${image.path} is ${image.virtualSize} bytes; a snapshot holds at most ${BACKUP_MAX_INDEX_ENTRIES * CHUNK_SIZE} (${limitNote('BACKUP_MAX_INDEX_ENTRIES', BACKUP_MAX_INDEX_ENTRIES)})`);
  const chunks: (string | undefined)[] = new Array<string | undefined>(total).fill(undefined);
  const counts: BackupCounts = { total, new: 0, reused: 0, zero: total, storedBytes: 0 };
  const queued = new Set<string>();
  const dataBytes = opts.onProgress ? await dataTotal(image, Infinity) : 0;
  let done = 0;
  const writer = new ChunkWriter(repo);
  try {
    for await (const c of dataByChunk(image)) {
      if (opts.signal?.aborted) throw new DiskImageError('IO', 'interrupted');
      if (changed && !changed.has(c.index)) {
        for (const [a, b] of c.ranges) done += b - a;
        continue;
      }
      const buffer = writer.buffer();
      const data = await readChunk(image, c, buffer);
      for (const [a, b] of c.ranges) done += b - a;
      opts.onProgress?.(done, dataBytes);
      if (isAllZero(data)) {
        writer.release(buffer);
        continue;
      }
      const digest = sha256Hex(data);
      counts.zero--;
      chunks[c.index] = digest;
      if (before[c.index] === digest || queued.has(digest) || (await repo.hasChunk(digest))) {
        writer.release(buffer);
        counts.reused++;
        continue;
      }
      queued.add(digest);
      counts.new++;
      await writer.add(digest, buffer, data.length);
    }
  } catch (err) {
    // The first failure is the one to report; the writer's own, if any, came later.
    await writer.drain().catch(() => undefined);
    throw err;
  }
  await writer.drain();
  counts.storedBytes = writer.storedBytes;
  if (changed) {
    for (let i = 0; i < total; i++) {
      if (changed.has(i) || before[i] === undefined) continue;
      chunks[i] = before[i];
      counts.zero--;
      counts.reused++;
    }
  }
  const info = image.describe();
  const index: SnapshotIndex = {
    meta: { name, createdAt: new Date().toISOString(), diskSize: image.virtualSize, chunkSize: CHUNK_SIZE, sourceFormat: image.format, ...(info.uuid && { uuid: info.uuid }), ...(info.subformat && { subformat: info.subformat }), ...(typeof info.formatSpecific?.adapterType === 'string' && { adapterType: info.formatSpecific.adapterType }), ...(source && JSON.stringify(source).length <= MAX_SOURCE_JSON && { source }) },
    chunks,
  };
  lease.check();
  return await repo.publish(index, counts);
}
