import { Repository } from '../src/backup/repository.js';
import { openSnapshot } from '../src/backup/snapshot-image.js';
import { MemoryStore } from './memory-store.js';

/** Most guest bytes read per snapshot: the seed's whole disk (6 MiB), while a mutated size cannot make a run long. */
const READ_CAP = 64 * 1024 * 1024;

/**
 * The backup target: opens a mutated repository (every object in memory,
 * read-only), lists its snapshots (each manifest parsed), and for each one
 * loads its index and reads the guest view, so every chunk it names is
 * fetched, decoded and verified. Throws what the repository code throws.
 */
export async function exerciseBackup(objects: ReadonlyMap<string, Uint8Array>): Promise<void> {
  const repo = await Repository.open(new MemoryStore(objects));
  for (const manifest of await repo.snapshots()) {
    const image = await openSnapshot(repo, manifest.id);
    try {
      for await (const e of image.extents({ offset: 0, length: Math.min(image.virtualSize, READ_CAP) })) {
        if (!(e.length > 0 && e.offset >= 0 && e.offset + e.length <= image.virtualSize)) throw new Error(`bad extent ${JSON.stringify(e)}`);
      }
      const buf = new Uint8Array(1024 * 1024);
      for (let pos = 0; pos < Math.min(image.virtualSize, READ_CAP); pos += buf.length) {
        await image.readAt(buf.subarray(0, Math.min(buf.length, image.virtualSize - pos)), pos);
      }
    } finally {
      await image.close();
    }
  }
}
