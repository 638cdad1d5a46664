import assert from 'node:assert/strict';
import { readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { backupCreate } from '../../src/backup/create.js';
import { backupGc } from '../../src/backup/gc.js';
import { chunkName } from '../../src/backup/layout.js';
import { Lease } from '../../src/backup/lease.js';
import { backupPrune } from '../../src/backup/prune.js';
import { initRepository, openRepository } from '../../src/backup/repository.js';
import { restoreToFile } from '../../src/backup/restore.js';
import { backupVerify } from '../../src/backup/verify.js';
import { fillPattern, writePatternDisk } from '../helpers/pattern-disk.js';
import { tempDir } from '../helpers/tmp.js';

const MiB = 1024 * 1024;
/** Fast lease timing for tests. */
const FAST = { beatMs: 50, staleMs: 10_000 };

/** Every file name under `dir`, recursively. */
function files(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => /^(chunks|indexes)\/..\/[0-9a-f]{64}$/.test(f));
}

/** A repository with two snapshots of 'd' (a 20 MiB pattern disk, then the same with its second chunk rewritten), the second pruned away. */
async function prunedRepo(): Promise<{ dir: string; repo: string; raw: string; gone: string[] }> {
  const dir = tempDir('vdisk-gc-');
  const raw = join(dir, 'd.raw');
  await writePatternDisk(raw, { size: 20 * MiB, blockSize: MiB, fraction: 1 });
  const repo = join(dir, 'repo');
  await initRepository(repo);
  const first = await backupCreate(repo, raw, { timing: FAST });
  const before = (await (await openRepository(repo)).loadIndex(first)).chunks;
  const handle = await open(raw, 'r+');
  const changed = new Uint8Array(4 * MiB);
  fillPattern(changed, 0, 77);
  await handle.write(changed, 0, changed.length, 4 * MiB);
  await handle.close();
  await backupCreate(repo, raw, { timing: FAST });
  const pruned = await backupPrune(repo, { last: 1 });
  assert.deepEqual(pruned.removed.map((m) => m.id), [first.id]);
  return { dir, repo, raw, gone: [chunkName(before[1]!)] };
}

test('gc deletes what no snapshot uses once it is past the grace period, and the rest still verifies and restores', async () => {
  const { dir, repo, raw, gone } = await prunedRepo();
  const all = files(repo);
  const kept = await backupGc(repo, { timing: FAST });
  assert.equal(kept.deleted, 0);
  assert.equal(kept.young, 2, 'the old chunk and the old index are younger than a day');
  const dry = await backupGc(repo, { graceMs: 0, dryRun: true, timing: FAST });
  assert.equal(dry.deleted, 2);
  assert.deepEqual(files(repo), all, 'a dry run deletes nothing');
  const r = await backupGc(repo, { graceMs: 0, timing: FAST });
  assert.equal(r.deleted, 2);
  assert.ok(r.deletedBytes > 0);
  assert.deepEqual(all.filter((f) => !files(repo).includes(f)).filter((f) => f.startsWith('chunks/')), gone);
  const v = await backupVerify(repo);
  assert.deepEqual(v.damage, []);
  await restoreToFile(repo, 'd', join(dir, 'out.raw'), { outputFormat: 'raw' });
  assert.deepEqual(readFileSync(join(dir, 'out.raw')), readFileSync(raw));
  assert.equal((await backupGc(repo, { graceMs: 0, timing: FAST })).deleted, 0, 'a second gc finds nothing more');
});

test('gc waits for a running backup, and removes the beats of dead runs and old temporary files', async () => {
  const { repo } = await prunedRepo();
  const store = (await openRepository(repo)).store;
  await store.create('sessions/20260101T000000Z-deadbeef.0000000003', new Uint8Array(0));
  const old = new Date(Date.now() - 3 * 3600_000);
  utimesSync(join(repo, 'sessions', '20260101T000000Z-deadbeef.0000000003'), old, old);
  writeFileSync(join(repo, 'chunks', '.tmp-1-stale'), 'partial');
  utimesSync(join(repo, 'chunks', '.tmp-1-stale'), old, old);
  const running = await Lease.take(store, 'sessions', 'gc', { timing: FAST });
  const waited: string[][] = [];
  let finished = false;
  const gc = backupGc(repo, { graceMs: 0, timing: FAST, onWait: (h) => waited.push(h) }).then((r) => ((finished = true), r));
  try {
    await sleep(500);
    assert.equal(finished, false, 'gc swept while a backup ran');
    assert.deepEqual(waited, [[running.id]]);
  } finally {
    await running.release();
  }
  const r = await gc;
  assert.equal(r.deleted, 2);
  assert.equal(r.leftovers, 2);
  assert.deepEqual(readdirSync(join(repo, 'sessions')), []);
  assert.ok(!readdirSync(join(repo, 'chunks')).includes('.tmp-1-stale'));
});
