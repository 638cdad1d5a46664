import { ChainImage } from '../chain/chain-image.js';
import type { ByteSource, Range } from '../io/byte-source.js';
import type { Layer, Run } from '../formats/layer.js';
import type { DiskImage, Finding, ImageInfo } from '../formats/types.js';
import { BoundedCache } from '../util/bounded-cache.js';
import { CHUNK_SIZE, manifestName } from './layout.js';
import type { Manifest } from './manifest.js';
import type { Repository } from './repository.js';
import { chunkLength, type SnapshotIndex } from './snapshot-index.js';

/** Decoded chunks kept for reads that do not cover a chunk at once (16 MiB). */
const CACHED_CHUNKS = 4;

/** The format name a snapshot's guest view reports. */
const SNAPSHOT_FORMAT = 'backup-snapshot';

/**
 * A snapshot as one read-only layer: each stored chunk is a `stored` run over
 * a byte source that reads (and verifies) chunks from the repository, each
 * all-zero chunk a `zero` run, so chain/ gives it readAt and extents and
 * convert and stream write it to any format. Zero chunks are never read.
 */
class SnapshotLayer implements Layer {
  readonly format = SNAPSHOT_FORMAT;
  readonly warnings: string[] = [];
  readonly grain = CHUNK_SIZE;
  readonly path: string;
  private readonly source: ByteSource;
  private readonly cache = new BoundedCache<number, Uint8Array>(CACHED_CHUNKS);

  constructor(
    private readonly repo: Repository,
    private readonly manifest: Manifest,
    private readonly index: SnapshotIndex,
  ) {
    this.path = `${repo.store.location}/${manifestName(manifest.id)}`;
    const context = `snapshot ${manifest.id}`;
    this.source = {
      path: this.path,
      size: index.meta.diskSize,
      read: async (buf, offset) => {
        const i = Math.floor(offset / CHUNK_SIZE);
        const chunk = await this.cache.get(i, () => this.repo.readChunk(this.index.chunks[i]!, chunkLength(i, this.virtualSize), context));
        const at = offset - i * CHUNK_SIZE;
        buf.set(chunk.subarray(at, at + buf.length));
      },
      close: () => Promise.resolve(),
    };
  }

  get virtualSize(): number {
    return this.index.meta.diskSize;
  }

  async *map(range: Range): AsyncIterable<Run> {
    const end = range.offset + range.length;
    for (let pos = range.offset; pos < end; ) {
      const i = Math.floor(pos / CHUNK_SIZE);
      const next = Math.min(end, (i + 1) * CHUNK_SIZE);
      const length = next - pos;
      yield this.index.chunks[i] === undefined ? { kind: 'zero', offset: pos, length } : { kind: 'stored', offset: pos, length, source: this.source, at: pos };
      pos = next;
    }
  }

  files(): string[] {
    return [this.path];
  }

  describe(): ImageInfo {
    const { meta } = this.index;
    return { filename: this.path, format: this.format, virtualSize: meta.diskSize, fileSize: this.manifest.counts.storedBytes, clusterSize: CHUNK_SIZE, ...(meta.uuid && { uuid: meta.uuid }), formatSpecific: { snapshot: this.manifest.id, name: meta.name, sourceFormat: meta.sourceFormat, ...(meta.adapterType && { adapterType: meta.adapterType }) }, warnings: [] };
  }

  check(): Promise<Finding[]> {
    return Promise.resolve([]);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** Snapshot `ref` (ID, or the newest of that name) of `repo` as a read-only DiskImage. */
export async function openSnapshot(repo: Repository, ref: string): Promise<DiskImage> {
  const manifest = await repo.find(ref);
  return new ChainImage(new SnapshotLayer(repo, manifest, await repo.loadIndex(manifest)));
}
