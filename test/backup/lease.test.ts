import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { DirStore } from '../../src/backup/dir-store.js';
import { beats, Lease } from '../../src/backup/lease.js';
import { tempDir } from '../helpers/tmp.js';

/** Fast lease timing for tests: a beat every 50 ms, dead after 10 s of silence. */
const FAST = { beatMs: 50, staleMs: 10_000 };

test('a lease waits while the other side holds one, and goes ahead once it is released', async () => {
  const store = new DirStore(tempDir('vdisk-lease-'));
  const gc = await Lease.take(store, 'gc', 'sessions', { timing: FAST });
  const waitedFor: string[][] = [];
  let taken = false;
  const backup = Lease.take(store, 'sessions', 'gc', { timing: FAST, onWait: (h) => waitedFor.push(h) }).then((l) => ((taken = true), l));
  try {
    await sleep(400);
    assert.equal(taken, false, 'a backup must not start while a gc holds its lease');
    assert.deepEqual(waitedFor, [[gc.id]]);
    assert.deepEqual((await beats(store, 'sessions', FAST)).length, 0, 'a waiting backup leaves no beat behind');
    await sleep(200);
    assert.ok((await beats(store, 'gc', FAST)).every((b) => b.alive), 'the holder keeps renewing');
  } finally {
    await gc.release();
  }
  const lease = await backup;
  assert.equal((await beats(store, 'gc', FAST)).length, 0);
  await lease.release();
  assert.equal((await beats(store, 'sessions', FAST)).length, 0);
});

test('two holders of the same side do not wait for each other', async () => {
  const store = new DirStore(tempDir('vdisk-lease-'));
  const a = await Lease.take(store, 'sessions', 'gc', { timing: FAST });
  const b = await Lease.take(store, 'sessions', 'gc', { timing: FAST });
  assert.equal(new Set((await beats(store, 'sessions', FAST)).map((x) => x.holder)).size, 2);
  await Promise.all([a.release(), b.release()]);
});

test('a holder whose newest beat is older than the stale time is dead and blocks nobody', async () => {
  const store = new DirStore(tempDir('vdisk-lease-'));
  await store.create('sessions/20260101T000000Z-deadbeef.0000000007', new Uint8Array(0));
  const old = new Date(Date.now() - 60_000);
  utimesSync(join(store.location, 'sessions', '20260101T000000Z-deadbeef.0000000007'), old, old);
  const listed = await beats(store, 'sessions', FAST);
  assert.deepEqual(listed.map((b) => [b.holder, b.alive]), [['20260101T000000Z-deadbeef', false]]);
  const gc = await Lease.take(store, 'gc', 'sessions', { timing: FAST, onWait: () => assert.fail('waited for a dead backup') });
  await gc.release();
});

test('a lease that was silent for half the stale time (a paused process) fails its check', async () => {
  const store = new DirStore(tempDir('vdisk-lease-'));
  const lease = await Lease.take(store, 'sessions', 'gc', { timing: { beatMs: 60_000, staleMs: 200 } });
  lease.check();
  await sleep(150);
  assert.throws(() => lease.check(), /lapsed/);
  await lease.release();
});

test('a young beat of a process of this machine that has ended is dead at once; one of another machine is not', async () => {
  const store = new DirStore(tempDir('vdisk-lease-'));
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  const live = await Lease.take(store, 'sessions', 'gc', { timing: FAST });
  const here = JSON.parse(readFileSync(join(store.location, (await store.list('sessions/'))[0]!), 'utf8')) as { host: string };
  await live.release();
  await store.create('sessions/20260101T000000Z-0000dead.0000000000', new TextEncoder().encode(JSON.stringify({ host: here.host, pid: Number(child.stdout) })));
  await store.create('sessions/20260101T000000Z-0000beef.0000000000', new TextEncoder().encode(JSON.stringify({ host: 'elsewhere/boot', pid: Number(child.stdout) })));
  const listed = await beats(store, 'sessions', FAST);
  assert.deepEqual(listed.map((b) => [b.holder, b.alive]).sort(), [['20260101T000000Z-0000beef', true], ['20260101T000000Z-0000dead', false]]);
});
