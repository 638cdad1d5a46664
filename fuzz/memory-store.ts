import { DiskImageError } from '../src/errors.js';
import type { ObjectStore, StoredObject } from '../src/backup/object-store.js';

/**
 * A read-only ObjectStore over one mutant's objects in memory, for the
 * backup target: the repository code reads a mutated repository through
 * it exactly as it reads a directory or a bucket, and nothing it does can
 * reach a file. A create or delete is USAGE.
 */
export class MemoryStore implements ObjectStore {
  readonly location = 'fuzz-repository';

  constructor(private readonly objects: ReadonlyMap<string, Uint8Array>) {}

  create(name: string): Promise<boolean> {
    return Promise.reject(new DiskImageError('USAGE', `${name}: the fuzz repository is read-only`));
  }

  get(name: string, maxBytes: number): Promise<Uint8Array | undefined> {
    const bytes = this.objects.get(name);
    if (bytes && bytes.length > maxBytes) return Promise.reject(new DiskImageError('CORRUPT', `${name} is ${bytes.length} bytes, over ${maxBytes}`));
    return Promise.resolve(bytes && new Uint8Array(bytes));
  }

  exists(name: string): Promise<boolean> {
    return Promise.resolve(this.objects.has(name));
  }

  list(prefix: string): Promise<string[]> {
    return Promise.resolve([...this.objects.keys()].filter((n) => n.startsWith(prefix) && !n.slice(prefix.length).includes('/')).sort());
  }

  async *listTree(prefix: string): AsyncIterable<StoredObject> {
    for (const [name, bytes] of this.objects) if (name.startsWith(prefix)) yield { name, size: bytes.length, modifiedMs: 0 };
  }

  delete(name: string): Promise<void> {
    return Promise.reject(new DiskImageError('USAGE', `${name}: the fuzz repository is read-only`));
  }
}
