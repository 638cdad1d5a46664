import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { checkRestores, ok, SOURCE_SIZE, sourceDisk, summary, writeBlock } from '../helpers/backup-cli.js';
import { raceBackupWithGc } from '../helpers/backup-race.js';
import { vdisk } from '../helpers/cli.js';
import { closedPort, s3Server } from '../helpers/s3-server.js';
import { tempDir } from '../helpers/tmp.js';

const s3 = s3Server();

test('a disk backed up to radosgw through the CLI restores equal as every format; an unchanged re-run stores nothing', async (t) => {
  const server = await s3(t);
  if (!server) return;
  // The CLI runs as a child of this process: it takes the credentials and the endpoint from these.
  Object.assign(process.env, server.env);
  const dir = tempDir('vdisk-s3-backup-');
  const source = await sourceDisk(dir);
  const repo = `s3://vdisk-rt-${randomBytes(4).toString('hex')}/backups/web01`;
  assert.match(ok('backup', 'init', repo), /^Initialized backup repository s3:\/\//);
  const first = summary(ok('backup', 'create', repo, source.vhd, '--name', 'disk'));
  assert.equal(first.total, Math.ceil(SOURCE_SIZE / (4 * 1024 * 1024)));
  assert.ok(first.new > 0 && first.zero > 0 && first.stored > 0, JSON.stringify(first));
  const again = summary(ok('backup', 'create', repo, source.vhd, '--name', 'disk'));
  assert.deepEqual(again, { ...first, new: 0, reused: first.new, stored: 0 });
  checkRestores(t, repo, 'disk', source, dir);
  const list = JSON.parse(ok('backup', 'list', repo, '--json')) as { name: string; counts: { new: number } }[];
  assert.deepEqual(list.map((m) => [m.name, m.counts.new]), [['disk', first.new], ['disk', 0]]);
});

test('--endpoint wins over AWS_ENDPOINT_URL_S3; a server that is not there is an IO error, a directory with --endpoint USAGE', async (t) => {
  const server = await s3(t);
  if (!server) return;
  Object.assign(process.env, server.env, { AWS_ENDPOINT_URL_S3: `http://127.0.0.1:${await closedPort()}` });
  const repo = `s3://vdisk-ep-${randomBytes(4).toString('hex')}`;
  ok('backup', 'init', repo, '--endpoint', server.config.endpoint);
  assert.equal(ok('backup', 'list', repo, '--endpoint', server.config.endpoint), `${repo} holds no snapshots.\n`);
  const down = vdisk('backup', 'list', repo);
  assert.equal(down.status, 1);
  assert.match(down.stderr, /GET http:\/\/127\.0\.0\.1:\d+\/vdisk-ep-\w+\/vdisk-backup\.json: ECONNREFUSED \(5 attempts\) \(IO\)\n$/);
  const dirWithEndpoint = vdisk('backup', 'list', join(tempDir(), 'repo'), '--endpoint', server.config.endpoint);
  assert.match(dirWithEndpoint.stderr, /--endpoint is for s3:\/\/ repositories; .* is a directory \(USAGE\)\n$/);
});

test('on radosgw, prune and gc free what only a pruned snapshot used, verify stays clean, and a backup alongside gc loses nothing', { timeout: 300_000 }, async (t) => {
  const server = await s3(t);
  if (!server) return;
  Object.assign(process.env, server.env);
  const dir = tempDir('vdisk-s3-gc-');
  const source = await sourceDisk(dir);
  const repo = `s3://vdisk-gc-${randomBytes(4).toString('hex')}/r`;
  ok('backup', 'init', repo);
  ok('backup', 'create', repo, source.raw, '--name', 'disk');
  await writeBlock(source.raw, 0, 1024 * 1024, 99);
  ok('backup', 'create', repo, source.raw, '--name', 'disk');
  assert.match(ok('backup', 'prune', repo, '--keep-last', '1'), /1 snapshot\(s\) kept, 1 removed/);
  assert.match(ok('backup', 'gc', repo), /Deleted 0 unused objects .* 2 unused but younger than 24h/);
  assert.match(ok('backup', 'gc', repo, '--grace', '0'), /Deleted 2 unused objects/);
  assert.match(ok('backup', 'verify', repo), /no damage/);
  const out = join(dir, 'out.raw');
  ok('backup', 'restore', repo, 'disk', '-O', 'raw', out);
  assert.ok(readFileSync(out).equals(readFileSync(source.raw)));
  assert.ok((await raceBackupWithGc(repo, dir, 2, 64)) > 0, 'gc never met a running backup: the race did not happen');
});
