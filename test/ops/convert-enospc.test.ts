import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { writePatternDisk } from '../helpers/pattern-disk.js';
import { vdisk } from '../helpers/cli.js';
import { needRoot } from '../helpers/oracles.js';
import { tempDir } from '../helpers/tmp.js';

const MiB = 1024 * 1024;

/** A 4 MiB tmpfs on a fresh directory, unmounted and removed when the file's tests end. */
function smallFileSystem(): string {
  const mnt = mkdtempSync(join(tmpdir(), 'vdisk-full-'));
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', mnt], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mount tmpfs: ${r.stderr}`);
  after(() => {
    spawnSync('umount', [mnt]);
    rmSync(mnt, { recursive: true, force: true });
  });
  return mnt;
}

/** A 16 MiB raw disk full of data, four times what the small file system holds. */
async function bigSource(): Promise<string> {
  const src = join(tempDir(), 'src.raw');
  await writePatternDisk(src, { size: 16 * MiB, blockSize: MiB, fraction: 1 });
  return src;
}

test('a full disk (ENOSPC) is one IO error line, exit 1, and no partial output, for every output format', async (t) => {
  if (!needRoot(t, 'mounts a small tmpfs')) return;
  const src = await bigSource();
  const mnt = smallFileSystem();
  for (const [format, ...options] of [['raw'], ['vhd'], ['vhd', '-o', 'subformat=fixed'], ['vhdx'], ['vhdx', '-o', 'subformat=fixed']]) {
    const r = vdisk('convert', '-O', format!, ...options, src, join(mnt, `out.${format}`));
    assert.equal(r.status, 1, `${format} ${options.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /^vdisk: .*no space left on device.*\n$/, `${format}: one line`);
    assert.deepEqual(readdirSync(mnt), [], `${format}: partial output removed`);
  }
});

test('a full disk during convert -n is an IO error that says DST was partly written', async (t) => {
  if (!needRoot(t, 'mounts a small tmpfs')) return;
  const src = await bigSource();
  const mnt = smallFileSystem();
  const dst = join(mnt, 'sparse.raw');
  spawnSync('truncate', ['-s', '16M', dst]);
  const r = vdisk('convert', '-n', src, dst);
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /partly written/);
  assert.match(r.stderr, /no space left on device/);
});
