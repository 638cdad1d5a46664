import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { checkRestores, ok, SOURCE_SIZE, sourceDisk, summary, writeBlock } from '../helpers/backup-cli.js';
import { REPO_ROOT, vdisk } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

const MiB = 1024 * 1024;
const SIZE = SOURCE_SIZE;

/** A pattern disk (raw and dynamic VHD) and an empty repository. */
async function setup(): Promise<{ dir: string; raw: string; vhd: string; repo: string }> {
  const dir = tempDir('vdisk-backup-');
  const { raw, vhd } = await sourceDisk(dir);
  const repo = join(dir, 'repo');
  ok('backup', 'init', repo);
  return { dir, raw, vhd, repo };
}

test('a dynamic VHD backed up restores equal to its source as every writable format', async (t) => {
  const { dir, raw, vhd, repo } = await setup();
  const first = summary(ok('backup', 'create', repo, vhd, '--name', 'disk'));
  assert.equal(first.total, Math.ceil(SIZE / (4 * MiB)));
  assert.ok(first.new > 0 && first.zero > 0 && first.reused === 0, JSON.stringify(first));
  checkRestores(t, repo, 'disk', { raw, vhd }, dir);
});

test('backups deduplicate: the same disk as qcow2 and an unchanged re-backup store nothing; a change stores only its chunks', async () => {
  const { dir, raw, vhd, repo } = await setup();
  const first = summary(ok('backup', 'create', repo, vhd, '--name', 'disk'));
  const qcow2 = join(dir, 'same.qcow2');
  ok('convert', '-O', 'qcow2', vhd, qcow2);
  const asQcow2 = summary(ok('backup', 'create', repo, qcow2, '--name', 'other'));
  assert.deepEqual(asQcow2, { ...first, new: 0, reused: first.new + first.reused, stored: 0 });
  const again = summary(ok('backup', 'create', repo, vhd, '--name', 'disk'));
  assert.equal(again.new, 0);
  assert.equal(again.stored, 0);
  await writeBlock(raw, 5 * MiB + 4096, 512, 0xbad);
  await writeBlock(raw, 21 * MiB, 65536, 0xbad);
  const changed = join(dir, 'changed.vhd');
  ok('convert', '-O', 'vhd', '-o', 'subformat=dynamic', raw, changed);
  const third = summary(ok('backup', 'create', repo, changed, '--name', 'disk'));
  assert.equal(third.new, 2);
  assert.ok(third.stored > 0);
  const list = JSON.parse(ok('backup', 'list', repo, '--json')) as { name: string; counts: { new: number } }[];
  assert.deepEqual(
    list.map((m) => [m.name, m.counts.new]),
    [['disk', first.new], ['other', 0], ['disk', 0], ['disk', 2]],
  );
  const latest = join(dir, 'latest.raw');
  ok('backup', 'restore', repo, 'disk', '-O', 'raw', latest);
  assert.match(ok('compare', changed, latest), /Images are identical/);
});

test('restore to stdout writes the guest bytes; create reports progress up to the data size', async () => {
  const { raw, vhd, repo } = await setup();
  const created = vdisk('backup', 'create', repo, vhd, '--name', 'disk', '--progress=json');
  assert.equal(created.status, 0, created.stderr);
  const last = JSON.parse(created.stderr.trim().split('\n').at(-1)!) as { done: number; total: number };
  assert.equal(last.done, last.total);
  assert.ok(last.total > 0 && last.total < SIZE, JSON.stringify(last));
  const r = spawnSync(process.execPath, [join(REPO_ROOT, 'bin', 'vdisk.js'), 'backup', 'restore', repo, 'disk', '-O', 'raw', '-'], { maxBuffer: 256 * MiB });
  assert.equal(r.status, 0, String(r.stderr));
  const expected = readFileSync(raw);
  assert.ok(r.stdout.length >= expected.length);
  assert.ok(r.stdout.subarray(0, expected.length).equals(expected));
  assert.ok(r.stdout.subarray(expected.length).every((b) => b === 0));
});

test('backup init refuses a non-empty directory and a repository; create and list refuse a non-repository', () => {
  const dir = tempDir('vdisk-backup-');
  ok('backup', 'init', join(dir, 'repo'));
  const again = vdisk('backup', 'init', join(dir, 'repo'));
  assert.equal(again.status, 1);
  assert.match(again.stderr, /is a backup repository already \(USAGE\)\n$/);
  const notEmpty = vdisk('backup', 'init', dir);
  assert.equal(notEmpty.status, 1);
  assert.match(notEmpty.stderr, /not empty and not a backup repository; .*\(USAGE\)\n$/);
  const list = vdisk('backup', 'list', join(dir, 'nothing'));
  assert.equal(list.status, 1);
  assert.match(list.stderr, /is not a backup repository/);
});

test('a snapshot keeps the source UUID for restore --keep-uuid, and its format for list', async () => {
  const { dir, vhd, repo } = await setup();
  ok('backup', 'create', repo, vhd);
  const uuid = (JSON.parse(ok('info', '--json', vhd)) as { uuid: string }).uuid;
  const out = join(dir, 'kept.vhdx');
  ok('backup', 'restore', repo, 'src', '--keep-uuid', '-O', 'vhdx', out);
  assert.equal((JSON.parse(ok('info', '--json', out)) as { uuid: string }).uuid, uuid);
  assert.match(ok('backup', 'list', repo), /^\S+ {2}src {2}\S+ {2}\d+ bytes {2}vhd {2}10 chunks \(\d+ new, 0 reused, \d+ zero\)\n$/);
});

test("a VMDK's adapter type is kept by a restore to VMDK, unless -o gives another", async () => {
  const { dir, vhd, repo } = await setup();
  const vmdk = join(dir, 'ide.vmdk');
  ok('convert', '-O', 'vmdk', '-o', 'adapter_type=ide', vhd, vmdk);
  ok('backup', 'create', repo, vmdk);
  const adapter = (path: string) => (JSON.parse(ok('info', '--json', path)) as { formatSpecific: { adapterType: string } }).formatSpecific.adapterType;
  ok('backup', 'restore', repo, 'ide', '-O', 'vmdk', join(dir, 'kept.vmdk'));
  assert.equal(adapter(join(dir, 'kept.vmdk')), 'ide');
  ok('backup', 'restore', repo, 'ide', '-O', 'vmdk', '-o', 'adapter_type=lsilogic', join(dir, 'given.vmdk'));
  assert.equal(adapter(join(dir, 'given.vmdk')), 'lsilogic');
});
