import { DiskImageError } from '../errors.js';
import { beats, Lease, type LeaseKind, type LeaseTiming } from './lease.js';
import { chunkName, indexName } from './layout.js';
import type { ObjectStore } from './object-store.js';
import type { StoreOptions } from './open-store.js';
import { openRepository, type Repository } from './repository.js';

/** Options of `vdisk backup gc`. */
export interface GcOptions {
  /** How to reach the repository (an S3 endpoint). */
  store?: StoreOptions;
  /** Objects younger than this (milliseconds) are never deleted; default 24 h. */
  graceMs?: number;
  /** Count what would go, delete nothing. */
  dryRun?: boolean;
  signal?: AbortSignal;
  /** Called with the backups gc waits for, once each. */
  onWait?: (holders: string[]) => void;
  /** Lease timing (tests shorten it). */
  timing?: LeaseTiming;
}

/** What a gc found and removed. */
export interface GcResult {
  /** Chunks and indexes that snapshots reference. */
  kept: number;
  /** Unreferenced chunks and indexes deleted (or, with dryRun, that would be). */
  deleted: number;
  /** Their bytes. */
  deletedBytes: number;
  /** Unreferenced objects kept because they are younger than the grace period. */
  young: number;
  /** Beats of dead backups and gcs, and temporary files, removed. */
  leftovers: number;
}

/** The default grace period: a day, as Proxmox Backup Server's (docs/backup.md). */
export const DEFAULT_GRACE_MS = 24 * 3600 * 1000;

/** A temporary file younger than this may belong to a create in progress (another gc's beat), whatever the grace period. */
const TEMPORARY_AGE_MS = 3600 * 1000;

/** The object names every snapshot reaches: its index and its chunks. A manifest or index that cannot be read stops the gc (a sweep on a partial mark would delete live chunks). */
async function mark(repo: Repository): Promise<Set<string>> {
  const live = new Set<string>();
  for (const m of await repo.snapshots()) {
    live.add(indexName(m.index));
    const index = await repo.loadIndex(m);
    for (const digest of index.chunks) if (digest) live.add(chunkName(digest));
  }
  return live;
}

/** Deletes the beats of dead holders of `kind`; returns how many. */
async function sweepDeadBeats(store: ObjectStore, kind: LeaseKind, timing: LeaseTiming, dryRun: boolean): Promise<number> {
  const dead = (await beats(store, kind, timing)).filter((b) => !b.alive);
  if (!dryRun) for (const b of dead) await store.delete(b.name);
  return dead.length;
}

/**
 * `vdisk backup gc`: mark and sweep. Waits until no backup runs (a backup
 * may reuse any chunk it finds), holds a gc lease that keeps new backups
 * waiting, marks every object a snapshot reaches, then deletes every other
 * chunk and index older than the grace period, the beats of dead holders,
 * and old temporary files.
 */
export async function backupGc(location: string, opts: GcOptions = {}): Promise<GcResult> {
  const repo = await openRepository(location, opts.store);
  const store = repo.store;
  const graceMs = opts.graceMs ?? DEFAULT_GRACE_MS;
  const lease = await Lease.take(store, 'gc', 'sessions', { timing: opts.timing, signal: opts.signal, onWait: opts.onWait });
  try {
    const cutoff = Date.now() - graceMs;
    const live = await mark(repo);
    const result: GcResult = { kept: 0, deleted: 0, deletedBytes: 0, young: 0, leftovers: 0 };
    for (const folder of ['chunks/', 'indexes/']) {
      for await (const o of store.listTree(folder)) {
        if (opts.signal?.aborted) throw new DiskImageError('IO', 'interrupted');
        if (live.has(o.name)) result.kept++;
        else if (o.modifiedMs >= cutoff) result.young++;
        else {
          lease.check();
          if (!opts.dryRun) await store.delete(o.name);
          result.deleted++;
          result.deletedBytes += o.size;
        }
      }
    }
    for (const kind of ['sessions', 'gc'] as const) result.leftovers += await sweepDeadBeats(store, kind, lease.timing, Boolean(opts.dryRun));
    if (!opts.dryRun && store.sweepTemporaries) result.leftovers += await store.sweepTemporaries(Math.min(cutoff, Date.now() - TEMPORARY_AGE_MS));
    return result;
  } finally {
    await lease.release();
  }
}
