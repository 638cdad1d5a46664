import type { Manifest } from './manifest.js';
import { manifestName } from './layout.js';
import { selectKept, type KeepPolicy } from './prune-policy.js';
import type { StoreOptions } from './open-store.js';
import { openRepository } from './repository.js';

/** Options of `vdisk backup prune`. */
export interface PruneOptions {
  /** How to reach the repository (an S3 endpoint). */
  store?: StoreOptions;
  /** Prune only the snapshots of this name (default: every name, each on its own). */
  name?: string;
  /** Say what would go, remove nothing. */
  dryRun?: boolean;
}

/** The snapshots prune kept and removed, oldest first. */
export interface PruneResult {
  kept: Manifest[];
  removed: Manifest[];
}

/**
 * `vdisk backup prune`: removes the manifests of the snapshots `policy`
 * does not keep (prune-policy.ts). Only manifests go: a snapshot is gone
 * once its manifest is, and its chunks and index stay until `backup gc`
 * finds nothing else names them. A crash halfway leaves some snapshots
 * removed and the rest whole.
 */
export async function backupPrune(location: string, policy: KeepPolicy, opts: PruneOptions = {}): Promise<PruneResult> {
  const repo = await openRepository(location, opts.store);
  const all = (await repo.snapshots()).filter((m) => opts.name === undefined || m.name === opts.name);
  const keep = selectKept(all, policy);
  const result: PruneResult = { kept: all.filter((m) => keep.has(m.id)), removed: all.filter((m) => !keep.has(m.id)) };
  if (!opts.dryRun) for (const m of result.removed) await repo.store.delete(manifestName(m.id));
  return result;
}
