import { DiskImageError } from '../errors.js';

/**
 * Retention rules of `vdisk backup prune` (docs/backup.md, "Prune"), as
 * Proxmox Backup Server applies them: within each snapshot name, rules run
 * in the order last, hourly, daily, weekly, monthly, yearly. A time rule
 * keeps the newest snapshot of each of the N most recent periods that have
 * one; periods without snapshots do not count, and a period whose newest
 * snapshot an earlier rule kept is covered without using up one of N.
 */
export interface KeepPolicy {
  last?: number;
  hourly?: number;
  daily?: number;
  weekly?: number;
  monthly?: number;
  yearly?: number;
}

/** A snapshot as prune sees it. */
export interface Dated {
  id: string;
  name: string;
  /** ISO 8601. */
  createdAt: string;
}

/** The rules in the order they apply, each with the period a snapshot falls in (local time, as the user reads the clock). */
const RULES: [keyof KeepPolicy, (d: Date) => string][] = [
  ['last', (d) => String(d.getTime())],
  ['hourly', (d) => `${d.getFullYear()}-${d.getMonth()}-${d.getDate()}T${d.getHours()}`],
  ['daily', (d) => `${d.getFullYear()}-${d.getMonth()}-${d.getDate()}`],
  ['weekly', isoWeek],
  ['monthly', (d) => `${d.getFullYear()}-${d.getMonth()}`],
  ['yearly', (d) => String(d.getFullYear())],
];

/** The ISO 8601 week (year and week number) of `d`, in local time. */
function isoWeek(d: Date): string {
  const thursday = new Date(d.getFullYear(), d.getMonth(), d.getDate() + 3 - ((d.getDay() + 6) % 7));
  const yearStart = new Date(thursday.getFullYear(), 0, 1);
  return `${thursday.getFullYear()}W${Math.floor((thursday.getTime() - yearStart.getTime()) / 86_400_000 / 7) + 1}`;
}

/** True when the policy keeps anything by some rule. */
export function hasRules(policy: KeepPolicy): boolean {
  return RULES.some(([rule]) => (policy[rule] ?? 0) > 0);
}

/** The IDs of `snapshots` that `policy` keeps: each name's series on its own. A policy with no rule is USAGE (it would remove everything). */
export function selectKept(snapshots: Dated[], policy: KeepPolicy): Set<string> {
  if (!hasRules(policy)) throw new DiskImageError('USAGE', 'prune needs at least one --keep-* rule of 1 or more (with none it would remove every snapshot)');
  const kept = new Set<string>();
  const byName = new Map<string, Dated[]>();
  for (const s of snapshots) byName.set(s.name, [...(byName.get(s.name) ?? []), s]);
  for (const series of byName.values()) {
    const newestFirst = [...series].sort((a, b) => b.createdAt.localeCompare(a.createdAt) || b.id.localeCompare(a.id));
    for (const [rule, period] of RULES) {
      const count = policy[rule] ?? 0;
      if (count === 0) continue;
      const covered = new Set(newestFirst.filter((s) => kept.has(s.id)).map((s) => period(new Date(s.createdAt))));
      const taken = new Set<string>();
      for (const s of newestFirst) {
        const p = period(new Date(s.createdAt));
        if (kept.has(s.id) || covered.has(p) || taken.has(p)) continue;
        if (taken.size >= count) break;
        taken.add(p);
        kept.add(s.id);
      }
    }
  }
  return kept;
}
