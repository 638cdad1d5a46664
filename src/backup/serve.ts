import { serve, type ServeOptions } from '../ops/serve.js';
import type { ServeStats } from '../nbd/transmission.js';
import type { StoreOptions } from './open-store.js';
import { openRepository } from './repository.js';
import { openSnapshot } from './snapshot-image.js';

/** Options of `vdisk backup serve`: where to listen and when to stop, as serve takes them, and how to reach the repository. */
export type BackupServeOptions = Pick<ServeOptions, 'listen' | 'writable' | 'overlay' | 'onReady' | 'onWarning' | 'signal'> & { store?: StoreOptions };

/**
 * `vdisk backup serve REPO SNAPSHOT`: exports snapshot `ref` (an ID, or the
 * newest of a name) of the repository at `location`, read-only, as the
 * default NBD export until `opts.signal` aborts. Chunks are read and
 * verified as clients ask for them; all-zero chunks are never read.
 */
export async function backupServe(location: string, ref: string, opts: BackupServeOptions): Promise<ServeStats> {
  const repo = await openRepository(location, opts.store);
  return serve([{ name: '', label: `backup snapshot ${ref}`, open: () => openSnapshot(repo, ref) }], opts);
}
