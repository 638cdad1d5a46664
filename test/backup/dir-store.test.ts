import assert from 'node:assert/strict';
import { readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { backupCreate } from '../../src/backup/create.js';
import { DirStore } from '../../src/backup/dir-store.js';
import { manifestName } from '../../src/backup/layout.js';
import { initRepository, openRepository } from '../../src/backup/repository.js';
import { rejectsWithCode } from '../helpers/assert-error.js';
import { writePatternDisk } from '../helpers/pattern-disk.js';
import { tempDir } from '../helpers/tmp.js';

test('a DirStore create is conditional: the second create of a name writes nothing and leaves no temporary file', async () => {
  const store = new DirStore(tempDir('vdisk-store-'));
  assert.equal(await store.create('a/b/c', new Uint8Array([1, 2, 3])), true);
  assert.equal(await store.create('a/b/c', new Uint8Array([9])), false);
  assert.deepEqual(await store.get('a/b/c', 3), new Uint8Array([1, 2, 3]));
  assert.equal(await store.get('a/b/missing', 3), undefined);
  assert.equal(await store.exists('a/b/c'), true);
  assert.equal(await store.exists('a/b/d'), false);
  assert.deepEqual(readdirSync(join(store.location, 'a', 'b')), ['c']);
  await rejectsWithCode(store.get('a/b/c', 2), 'CORRUPT');
});

test('a DirStore lists the objects of a folder, not temporary files or subfolders', async () => {
  const store = new DirStore(tempDir('vdisk-store-'));
  await store.create('s/two', new Uint8Array(1));
  await store.create('s/one', new Uint8Array(1));
  await store.create('s/sub/x', new Uint8Array(1));
  writeFileSync(join(store.location, 's', '.tmp-1-abc'), 'partial');
  assert.deepEqual(await store.list('s/'), ['s/one', 's/two']);
  assert.deepEqual(await store.list('none/'), []);
});

test('a DirStore lists a tree with sizes and times, deletes idempotently, and sweeps only old temporary files', async () => {
  const store = new DirStore(tempDir('vdisk-store-'));
  await store.create('t/ab/one', new Uint8Array(3));
  await store.create('t/cd/two', new Uint8Array(5));
  await store.create('u/three', new Uint8Array(1));
  writeFileSync(join(store.location, 't', 'ab', '.tmp-1-old'), 'partial');
  writeFileSync(join(store.location, 't', 'cd', '.tmp-1-new'), 'partial');
  const old = new Date(Date.now() - 3600_000);
  utimesSync(join(store.location, 't', 'ab', '.tmp-1-old'), old, old);
  const listed = [];
  for await (const o of store.listTree('t/')) listed.push(o);
  listed.sort((a, b) => a.name.localeCompare(b.name));
  assert.deepEqual(listed.map((o) => [o.name, o.size]), [['t/ab/one', 3], ['t/cd/two', 5]]);
  assert.ok(listed.every((o) => Math.abs(o.modifiedMs - Date.now()) < 60_000));
  assert.equal(await store.sweepTemporaries(Date.now() - 60_000), 1);
  assert.deepEqual(readdirSync(join(store.location, 't', 'ab')), ['one']);
  assert.deepEqual(readdirSync(join(store.location, 't', 'cd')).sort(), ['.tmp-1-new', 'two']);
  await store.delete('t/ab/one');
  await store.delete('t/ab/one');
  assert.equal(await store.exists('t/ab/one'), false);
});

test('a backup that crashed before its manifest is invisible, and a re-run resumes without storing its chunks again', async () => {
  const dir = tempDir('vdisk-backup-');
  const raw = join(dir, 'd.raw');
  await writePatternDisk(raw, { size: 10 * 1024 * 1024, blockSize: 1024 * 1024, fraction: 0.5 });
  const repo = join(dir, 'repo');
  await initRepository(repo);
  const crashed = await backupCreate(repo, raw);
  assert.ok(crashed.counts.new > 0);
  rmSync(join(repo, manifestName(crashed.id)));
  assert.deepEqual(await (await openRepository(repo)).snapshots(), []);
  const rerun = await backupCreate(repo, raw);
  assert.equal(rerun.counts.new, 0);
  assert.equal(rerun.counts.reused, crashed.counts.new);
  assert.equal(rerun.counts.storedBytes, 0);
  assert.deepEqual((await (await openRepository(repo)).snapshots()).map((m) => m.id), [rerun.id]);
});
