import assert from 'node:assert/strict';
import { test } from 'node:test';
import { selectKept, type Dated } from '../../src/backup/prune-policy.js';
import { rejectsWithCode } from '../helpers/assert-error.js';

/** A snapshot of `name` at local time y-m-d h:00 (month 1-12). */
function at(name: string, y: number, m: number, d: number, h = 12): Dated {
  const createdAt = new Date(y, m - 1, d, h).toISOString();
  return { id: `${name}-${y}${String(m).padStart(2, '0')}${String(d).padStart(2, '0')}${String(h).padStart(2, '0')}`, name, createdAt };
}

/** The kept IDs, sorted. */
function kept(snapshots: Dated[], policy: Parameters<typeof selectKept>[1]): string[] {
  return [...selectKept(snapshots, policy)].sort();
}

test('keep-last keeps the n newest of each name, on its own', () => {
  const s = [at('a', 2026, 1, 1), at('a', 2026, 1, 2), at('a', 2026, 1, 3), at('b', 2026, 1, 1)];
  assert.deepEqual(kept(s, { last: 2 }), ['a-2026010212', 'a-2026010312', 'b-2026010112']);
});

test('keep-daily keeps the newest of each of the n most recent days that have snapshots; empty days do not count', () => {
  const s = [at('a', 2026, 1, 1, 8), at('a', 2026, 1, 1, 20), at('a', 2026, 1, 5, 9), at('a', 2026, 1, 5, 10), at('a', 2026, 1, 9, 1)];
  assert.deepEqual(kept(s, { daily: 2 }), ['a-2026010510', 'a-2026010901']);
  assert.deepEqual(kept(s, { daily: 3 }), ['a-2026010120', 'a-2026010510', 'a-2026010901']);
});

test('a period an earlier rule covered does not use up a later rule: keep-last 1 plus keep-daily 2 reaches back two more days', () => {
  const s = [at('a', 2026, 3, 1), at('a', 2026, 3, 2), at('a', 2026, 3, 3, 9), at('a', 2026, 3, 3, 18)];
  assert.deepEqual(kept(s, { last: 1, daily: 2 }), ['a-2026030112', 'a-2026030212', 'a-2026030318']);
});

test('weekly, monthly and yearly rules follow ISO weeks and calendar months and years', () => {
  // 2026-01-04 is a Sunday (ISO week 1 of 2026), 2026-01-05 a Monday (week 2).
  const s = [at('a', 2026, 1, 4), at('a', 2026, 1, 5), at('a', 2026, 1, 6)];
  assert.deepEqual(kept(s, { weekly: 2 }), ['a-2026010412', 'a-2026010612']);
  const months = [at('a', 2025, 11, 30), at('a', 2025, 12, 1), at('a', 2025, 12, 31), at('a', 2026, 1, 1)];
  assert.deepEqual(kept(months, { monthly: 2 }), ['a-2025123112', 'a-2026010112']);
  assert.deepEqual(kept(months, { yearly: 5 }), ['a-2025123112', 'a-2026010112']);
});

test('a policy with no rule is refused rather than removing everything', async () => {
  await rejectsWithCode(Promise.resolve().then(() => selectKept([at('a', 2026, 1, 1)], {})), 'USAGE');
  await rejectsWithCode(Promise.resolve().then(() => selectKept([at('a', 2026, 1, 1)], { daily: 0 })), 'USAGE');
});
