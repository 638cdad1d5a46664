import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { DiskImageError } from '../errors.js';
import type { ObjectStore } from './object-store.js';
import { BACKUP_MAX_BEAT_BYTES } from '../limits.js';

/**
 * Leases (docs/backup.md, "gc while a backup runs"): how `backup create`
 * and `backup gc` keep out of each other's way with nothing but the store's
 * conditional creates. A holder announces itself with a beat object
 * `KIND/ID.BEAT` (KIND `sessions` for a backup, `gc` for a sweep), which it
 * replaces by the next beat every `beatMs`; a holder whose newest beat is
 * older than `staleMs` is dead (it crashed), and is ignored; so is one whose
 * beat names a process of this machine that no longer runs.
 *
 * The rule: a backup runs only while no gc sweeps, and a gc sweeps only
 * while no backup runs. Each side first creates its beat, then lists the
 * other side's; if it finds one alive it removes its own beat, waits and
 * tries again. Whichever created its beat second sees the first, so the two
 * never run together.
 */

/** Which side a lease is for. */
export type LeaseKind = 'sessions' | 'gc';

/** How often a holder renews its lease and when a silent one counts as dead. */
export interface LeaseTiming {
  /** Milliseconds between beats. */
  beatMs: number;
  /** A holder silent this long is dead; a holder that finds itself silent for half of it has lost its lease. */
  staleMs: number;
}

/** One beat a minute; dead after ten minutes of silence. */
export const DEFAULT_LEASE_TIMING: LeaseTiming = { beatMs: 60_000, staleMs: 600_000 };

/** How long a waiting side sleeps between looks, at most (a random share of it, so two waiters do not keep meeting). */
const POLL_MS = 1000;

/** This machine and boot: a beat made here by a process that no longer runs is dead at once. */
const HERE = `${hostname()}/${bootId()}`;

/** The kernel's ID of this boot (a PID means nothing across boots); empty where there is none. */
function bootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return '';
  }
}

/** What a beat holds: where its holder runs, so that a holder on this machine can be seen to be gone. */
function beatBody(): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ host: HERE, pid: process.pid }));
}

/** True when beat body `bytes` names a process of this machine and boot that no longer runs. */
function goneHere(bytes: Uint8Array | undefined): boolean {
  if (!bytes || bootId() === '') return false;
  try {
    const body = JSON.parse(new TextDecoder().decode(bytes)) as { host?: unknown; pid?: unknown };
    if (body.host !== HERE || typeof body.pid !== 'number' || !Number.isSafeInteger(body.pid) || body.pid <= 0) return false;
    process.kill(body.pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}


/** The object name of beat `beat` of holder `id`. */
function beatName(kind: LeaseKind, id: string, beat: number): string {
  return `${kind}/${id}.${String(beat).padStart(10, '0')}`;
}

/** A beat's holder ID, or undefined for a name that is not a beat. */
function holderOf(kind: LeaseKind, name: string): string | undefined {
  const m = /^[^/]+\/([A-Za-z0-9-]+)\.\d{10}$/.exec(name);
  return name.startsWith(`${kind}/`) && m ? m[1] : undefined;
}

/**
 * Every beat of `kind` in the store, with whether its holder is alive at
 * `nowMs`: its newest beat is younger than the stale time, and it is not a
 * process of this machine that has ended.
 */
export async function beats(store: ObjectStore, kind: LeaseKind, timing: LeaseTiming, nowMs = Date.now()): Promise<{ name: string; holder: string; alive: boolean }[]> {
  const newest = new Map<string, { name: string; modifiedMs: number }>();
  const found: { name: string; holder: string }[] = [];
  for await (const o of store.listTree(`${kind}/`)) {
    const holder = holderOf(kind, o.name);
    if (!holder) continue;
    found.push({ name: o.name, holder });
    if (o.modifiedMs >= (newest.get(holder)?.modifiedMs ?? -1)) newest.set(holder, o);
  }
  const alive = new Set<string>();
  for (const [holder, o] of newest) if (nowMs - o.modifiedMs < timing.staleMs && !goneHere(await store.get(o.name, BACKUP_MAX_BEAT_BYTES).catch(() => undefined))) alive.add(holder);
  return found.map((b) => ({ ...b, alive: alive.has(b.holder) }));
}

/** The holders of `kind` alive now, other than `except`. */
async function liveHolders(store: ObjectStore, kind: LeaseKind, timing: LeaseTiming, except?: string): Promise<string[]> {
  const live = new Set((await beats(store, kind, timing)).filter((b) => b.alive && b.holder !== except).map((b) => b.holder));
  return [...live];
}

/** A lease held in a store: renewed in the background until released. */
export class Lease {
  private beat = 0;
  private renewedAt = Date.now();
  private failure: DiskImageError | undefined;
  private readonly timer: NodeJS.Timeout;
  /** The renewal in progress, if any: one at a time, so a slow one (a loaded machine) never overlaps the next or outlives release. */
  private renewing: Promise<void> | undefined;
  private released = false;

  private constructor(
    private readonly store: ObjectStore,
    readonly kind: LeaseKind,
    readonly id: string,
    readonly timing: LeaseTiming,
  ) {
    this.timer = setInterval(() => {
      this.renewing ??= this.renew().finally(() => (this.renewing = undefined));
    }, timing.beatMs);
    this.timer.unref();
  }

  /** Creates a first beat for a new holder of `kind`. */
  private static async create(store: ObjectStore, kind: LeaseKind, timing: LeaseTiming): Promise<Lease> {
    const id = `${new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${randomBytes(4).toString('hex')}`;
    await store.create(beatName(kind, id, 0), beatBody());
    return new Lease(store, kind, id, timing);
  }

  /**
   * Takes a lease of `kind` once no holder of `other` is alive: creates a
   * beat, then looks for `other`'s; while there is one, gives the lease back
   * and waits (telling `onWait` who it waits for, once per holder).
   */
  static async take(store: ObjectStore, kind: LeaseKind, other: LeaseKind, opts: { timing?: LeaseTiming; signal?: AbortSignal; onWait?: (holders: string[]) => void } = {}): Promise<Lease> {
    const timing = opts.timing ?? DEFAULT_LEASE_TIMING;
    const told = new Set<string>();
    for (;;) {
      const lease = await Lease.create(store, kind, timing);
      const blockers = await liveHolders(store, other, timing);
      if (blockers.length === 0) return lease;
      await lease.release();
      const fresh = blockers.filter((h) => !told.has(h));
      if (fresh.length > 0) opts.onWait?.(fresh);
      for (const h of fresh) told.add(h);
      do {
        await sleep(POLL_MS / 2 + Math.random() * (POLL_MS / 2), undefined, { signal: opts.signal }).catch(() => {
          throw new DiskImageError('IO', 'interrupted');
        });
      } while ((await liveHolders(store, other, timing)).length > 0);
    }
  }

  /** Throws when the lease may have lapsed: a renewal failed, or this process was silent (paused) for half the stale time, so the other side may have taken its turn. */
  check(): void {
    if (this.failure) throw this.failure;
    const silent = Date.now() - this.renewedAt;
    if (silent >= this.timing.staleMs / 2) throw new DiskImageError('IO', `the ${this.kind} lease ${this.id} lapsed (no beat for ${Math.round(silent / 1000)} s; was the process paused?); nothing was published: run it again`);
  }

  /** Stops renewing and removes the beat. */
  async release(): Promise<void> {
    clearInterval(this.timer);
    this.released = true;
    await this.renewing;
    await this.store.delete(beatName(this.kind, this.id, this.beat));
  }

  /** Replaces the current beat by the next one. */
  private async renew(): Promise<void> {
    try {
      this.check();
      if (this.released) return;
      await this.store.create(beatName(this.kind, this.id, this.beat + 1), beatBody());
      this.beat++;
      this.renewedAt = Date.now();
      await this.store.delete(beatName(this.kind, this.id, this.beat - 1));
    } catch (err) {
      this.failure ??= err instanceof DiskImageError ? err : new DiskImageError('IO', `the ${this.kind} lease ${this.id} could not be renewed: ${(err as Error).message}`);
    }
  }
}
