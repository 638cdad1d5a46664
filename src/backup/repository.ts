import { randomBytes } from 'node:crypto';
import { DiskImageError } from '../errors.js';
import { decodeChunk, MAX_CHUNK_OBJECT, sha256Hex } from './chunk-object.js';
import { CHUNK_SIZE, CONFIG_NAME, FORMAT_VERSION, SNAPSHOTS, checkVersion, chunkName, indexName, intField, manifestName, parseJsonObject, textField } from './layout.js';
import { decodeManifest, encodeManifest, type BackupCounts, type Manifest } from './manifest.js';
import type { ObjectStore } from './object-store.js';
import { openStore, type StoreOptions } from './open-store.js';
import { ZstdDecoder } from './zstd-decoder.js';
import { decodeIndex, encodeIndex, MAX_INDEX_BYTES, type SnapshotIndex } from './snapshot-index.js';
import { BACKUP_MAX_JSON_BYTES } from '../limits.js';

/** The `format` field of the config object. */
const REPO_KIND = 'vdisk-backup';

/**
 * A backup repository over an ObjectStore (docs/backup.md): reads and
 * checks its config, chunks, indexes and manifests, and publishes snapshots
 * in the crash-safe order (chunks, then the index, then the manifest).
 */
export class Repository {
  private constructor(readonly store: ObjectStore) {}

  /** Opens the repository in `store`: USAGE when it has no config, CORRUPT or UNSUPPORTED when the config is bad or newer. */
  static async open(store: ObjectStore): Promise<Repository> {
    const bytes = await store.get(CONFIG_NAME, BACKUP_MAX_JSON_BYTES);
    if (!bytes) throw new DiskImageError('USAGE', `${store.location} is not a backup repository (no ${CONFIG_NAME}; make one with vdisk backup init)`, { path: store.location });
    const what = `${store.location}: ${CONFIG_NAME}`;
    const config = parseJsonObject(bytes, what);
    if (textField(config, 'format', what) !== REPO_KIND) throw new DiskImageError('CORRUPT', `${what} is not a ${REPO_KIND} config`);
    checkVersion(config, what);
    const chunkSize = intField(config, 'chunkSize', Number.MAX_SAFE_INTEGER, what);
    if (chunkSize !== CHUNK_SIZE) throw new DiskImageError('CORRUPT', `${what}: chunk size ${chunkSize} is not ${CHUNK_SIZE}`);
    return new Repository(store);
  }

  /** True when the chunk of plaintext SHA-256 `digest` is stored. */
  hasChunk(digest: string): Promise<boolean> {
    return this.store.exists(chunkName(digest));
  }

  /** Stores a chunk object under its plaintext's digest; false when it was already there (nothing written). */
  putChunk(digest: string, object: Uint8Array): Promise<boolean> {
    return this.store.create(chunkName(digest), object);
  }

  /** The verified plaintext of chunk `digest` (`length` bytes); missing, truncated or wrong is CORRUPT naming the chunk and `context`. */
  async readChunk(digest: string, length: number, context: string): Promise<Uint8Array> {
    const name = chunkName(digest);
    const object = await this.store.get(name, MAX_CHUNK_OBJECT);
    if (!object) throw new DiskImageError('CORRUPT', `chunk ${name} of ${context} is missing from ${this.store.location}`, { chunk: name });
    const decoder = await ZstdDecoder.shared();
    return decodeChunk(object, name, digest, length, context, (frame, n) => decoder.decode(frame, n));
  }

  /** Every snapshot's manifest, oldest first. */
  async snapshots(): Promise<Manifest[]> {
    const out: Manifest[] = [];
    for (const name of await this.manifestNames()) {
      const m = await this.manifest(name);
      if (m) out.push(m);
    }
    return out.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
  }

  /** The object names of the snapshot manifests. */
  async manifestNames(): Promise<string[]> {
    return (await this.store.list(SNAPSHOTS)).filter((name) => name.endsWith('.json'));
  }

  /** The manifest stored as `name` (undefined when it is gone); CORRUPT when it does not parse. */
  async manifest(name: string): Promise<Manifest | undefined> {
    const bytes = await this.store.get(name, BACKUP_MAX_JSON_BYTES);
    return bytes && decodeManifest(bytes, `${this.store.location}: ${name}`);
  }

  /** The newest snapshot named `name`, if any. */
  async latest(name: string): Promise<Manifest | undefined> {
    return (await this.snapshots()).filter((m) => m.name === name).at(-1);
  }

  /** The snapshot `ref` names: its ID, or the newest of that name; USAGE when none. */
  async find(ref: string): Promise<Manifest> {
    const all = await this.snapshots();
    const found = all.find((m) => m.id === ref) ?? all.filter((m) => m.name === ref).at(-1);
    if (!found) throw new DiskImageError('USAGE', `${this.store.location} has no snapshot '${ref}' (vdisk backup list shows them)`);
    return found;
  }

  /** The index of snapshot `m`, its SHA-256 checked against the manifest. */
  async loadIndex(m: Manifest): Promise<SnapshotIndex> {
    const name = indexName(m.index);
    const what = `${this.store.location}: index ${name} of snapshot ${m.id}`;
    const bytes = await this.store.get(name, MAX_INDEX_BYTES);
    if (!bytes) throw new DiskImageError('CORRUPT', `${what} is missing`);
    if (sha256Hex(bytes) !== m.index) throw new DiskImageError('CORRUPT', `${what}: its SHA-256 does not match the manifest`);
    const index = decodeIndex(bytes, what);
    if (index.meta.diskSize !== m.diskSize) throw new DiskImageError('CORRUPT', `${what}: disk size ${index.meta.diskSize}, the manifest says ${m.diskSize}`);
    return index;
  }

  /**
   * Publishes a snapshot whose chunks are all stored already: writes its
   * index, then its manifest (each durable before the next), and returns
   * the manifest. Until the manifest exists the snapshot is invisible.
   */
  async publish(index: SnapshotIndex, counts: BackupCounts): Promise<Manifest> {
    const bytes = encodeIndex(index);
    const digest = sha256Hex(bytes);
    await this.store.create(indexName(digest), bytes);
    const { name, createdAt, diskSize, sourceFormat } = index.meta;
    const id = `${createdAt.replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${randomBytes(4).toString('hex')}`;
    const manifest: Manifest = { id, name, createdAt, diskSize, sourceFormat, index: digest, counts };
    if (!(await this.store.create(manifestName(id), encodeManifest(manifest)))) throw new DiskImageError('IO', `snapshot ${id} already exists in ${this.store.location}`);
    return manifest;
  }
}

/**
 * Makes `location` a repository: a directory (created when missing) or
 * `s3://BUCKET/PREFIX` (the bucket created when missing). USAGE when it is
 * a repository already or holds other objects.
 */
export async function initRepository(location: string, opts: StoreOptions = {}): Promise<void> {
  const store = await openStore(location, opts, true);
  const already = new DiskImageError('USAGE', `${location} is a backup repository already`, { path: location });
  if (await store.exists(CONFIG_NAME)) throw already;
  for await (const o of store.listTree('')) throw new DiskImageError('USAGE', `${location} is not empty and not a backup repository; give an empty or new ${location.startsWith('s3://') ? 'prefix' : 'directory'} (it holds ${o.name})`, { path: location });
  const config = { format: REPO_KIND, version: FORMAT_VERSION, chunkSize: CHUNK_SIZE, hash: 'sha256', compression: 'zstd' };
  if (!(await store.create(CONFIG_NAME, new TextEncoder().encode(`${JSON.stringify(config, null, 2)}\n`)))) throw already;
}

/** Opens the repository at `location`: a directory, or `s3://BUCKET/PREFIX`. */
export async function openRepository(location: string, opts: StoreOptions = {}): Promise<Repository> {
  return Repository.open(await openStore(location, opts));
}
