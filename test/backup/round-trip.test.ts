import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { DiskFile } from '../../src/io/file.js';
import { fillPattern, writePatternDisk } from '../helpers/pattern-disk.js';
import { REPO_ROOT, vdisk } from '../helpers/cli.js';
import { needTools, run } from '../helpers/oracles.js';
import { tempDir } from '../helpers/tmp.js';

const MiB = 1024 * 1024;
/** An odd size: not a multiple of the 4 MiB chunk, nor of 64 KiB. */
const SIZE = 37 * MiB + 1536;

/** Output formats restore is checked with, and qemu-img's name for each. */
const OUTPUTS: [string, string][] = [
  ['raw', 'raw'],
  ['vhd', 'vpc'],
  ['vhdx', 'vhdx'],
  ['vmdk', 'vmdk'],
  ['qcow2', 'qcow2'],
  ['vdi', 'vdi'],
];

/** Runs `vdisk ARGS` and asserts it succeeds; returns stdout. */
function ok(...args: string[]): string {
  const r = vdisk(...args);
  assert.equal(r.status, 0, `vdisk ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** The counts of `backup create`'s summary line. */
function summary(stdout: string): { total: number; new: number; reused: number; zero: number; stored: number } {
  const m = /(\d+) chunks, (\d+) new, (\d+) reused, (\d+) zero; (\d+) bytes stored/.exec(stdout);
  assert.ok(m, `no summary in ${stdout}`);
  const [total, added, reused, zero, stored] = m.slice(1).map(Number) as [number, number, number, number, number];
  return { total, new: added, reused, zero, stored };
}

/** Writes a pattern block of `length` bytes at `offset` of the raw file `path`. */
async function writeBlock(path: string, offset: number, length: number, seed: number): Promise<void> {
  const file = await DiskFile.open(path, 'write');
  try {
    const buf = new Uint8Array(length);
    fillPattern(buf, offset, seed);
    await file.write(buf, offset);
    await file.sync();
  } finally {
    await file.close();
  }
}

/** A pattern disk of SIZE bytes with data in its first and last sectors, as raw and as a dynamic VHD, and an empty repository. */
async function setup(): Promise<{ dir: string; raw: string; vhd: string; repo: string }> {
  const dir = tempDir('vdisk-backup-');
  const raw = join(dir, 'src.raw');
  await writePatternDisk(raw, { size: SIZE, blockSize: MiB, fraction: 0.15 });
  await writeBlock(raw, 0, 4096, 0x5eed);
  await writeBlock(raw, SIZE - 4096, 4096, 0x5eed);
  const vhd = join(dir, 'src.vhd');
  ok('convert', '-O', 'vhd', '-o', 'subformat=dynamic', raw, vhd);
  const repo = join(dir, 'repo');
  ok('backup', 'init', repo);
  return { dir, raw, vhd, repo };
}

test('a dynamic VHD backed up restores equal to its source as every writable format', async (t) => {
  const { dir, raw, vhd, repo } = await setup();
  const first = summary(ok('backup', 'create', repo, vhd, '--name', 'disk'));
  assert.equal(first.total, Math.ceil(SIZE / (4 * MiB)));
  assert.ok(first.new > 0 && first.zero > 0 && first.reused === 0, JSON.stringify(first));
  const qemu = needTools(t, 'qemu-img');
  for (const [format, qemuFormat] of OUTPUTS) {
    const out = join(dir, `restored.${format}`);
    ok('backup', 'restore', repo, 'disk', '-O', format, out);
    assert.match(ok('compare', vhd, out), /Images are identical/, format);
    if (qemu) run('qemu-img', ['compare', '-f', 'raw', '-F', qemuFormat, raw, out]);
  }
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
