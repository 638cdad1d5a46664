// Oracle: the qcow2 images vdisk writes, read by qemu-img 7.2 (check: no
// errors and no leaks; compare against the source) and opened by qcowinfo
// (libqcow): conversions at 4 KiB, 64 KiB and 2 MiB clusters of a disk that
// is not a whole number of clusters, every create option, writes into images
// qemu made (compressed clusters among them), a snapshot chain qemu reads
// through, rebase and commit of a chain, and qcow2 piped to stdout.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { openImage } from '../../src/formats/registry.js';
import type { WritableDiskImage } from '../../src/formats/types.js';
import { snapshot } from '../../src/ops/snapshot.js';
import { viewOf } from '../helpers/chain.js';
import { rebaseThenCommit } from '../helpers/chain-oracle.js';
import { REPO_ROOT, vdisk } from '../helpers/cli.js';
import { writeAcrossReopen, writeBoth } from '../helpers/images.js';
import { needTools, qemuCheckClean, run } from '../helpers/oracles.js';
import { fillPattern, writePatternDisk } from '../helpers/pattern-disk.js';
import { tempDir } from '../helpers/tmp.js';

const MiB = 1024 * 1024;
/** Not a whole number of clusters of any size tested. */
const SIZE = 40 * MiB + 1536;

/** qemu-img check clean, qemu-img compare equal to `raw`, and qcowinfo's media size (libqcow reads no extended L2 entries: `libqcow` false). */
function oracles(path: string, raw: string, libqcow = true): void {
  qemuCheckClean(path, 'qcow2');
  run('qemu-img', ['compare', '-f', 'raw', '-F', 'qcow2', raw, path]);
  if (libqcow) assert.match(run('qcowinfo', [path]).stdout, new RegExp(`Media size\\s*:.*\\(${SIZE} bytes\\)`));
}

describe('qemu-img and qcowinfo read the qcow2 images vdisk writes', () => {
  const dir = tempDir('vdisk-qcow2-write-');
  const src = join(dir, 'src.raw');

  before(async () => {
    await writePatternDisk(src, { size: SIZE, blockSize: 64 * 1024, fraction: 0.3, seed: 0x93 });
  });

  for (const cluster of ['4K', '64K', '2M']) {
    test(`convert raw → qcow2, cluster_size=${cluster}`, (t) => {
      const out = join(dir, `conv-${cluster}.qcow2`);
      const r = vdisk('convert', '-O', 'qcow2', '-o', `cluster_size=${cluster}`, src, out);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(vdisk('compare', src, out).status, 0);
      assert.equal(vdisk('check', out).status, 0);
      if (!needTools(t, 'qemu-img', 'qcowinfo')) return;
      oracles(out, src);
    });
  }

  for (const options of ['compat=0.10', 'lazy_refcounts=on', 'extended_l2=on', 'preallocation=metadata', 'preallocation=full', 'cluster_size=512']) {
    test(`convert raw → qcow2 -o ${options}`, (t) => {
      const out = join(dir, `opt-${options.replace(/[=,]/g, '-')}.qcow2`);
      const r = vdisk('convert', '-O', 'qcow2', '-o', options, src, out);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(vdisk('compare', src, out).status, 0);
      if (!needTools(t, 'qemu-img', 'qcowinfo')) return;
      oracles(out, src, options !== 'extended_l2=on');
      const info = JSON.parse(run('qemu-img', ['info', '--output=json', out]).stdout) as { 'format-specific': { data: Record<string, unknown> } };
      const data = info['format-specific'].data;
      if (options === 'compat=0.10') assert.equal(data.compat, '0.10');
      if (options === 'lazy_refcounts=on') assert.equal(data['lazy-refcounts'], true);
      if (options === 'extended_l2=on') assert.equal(data['extended-l2'], true);
    });
  }

  test('vdisk create -f qcow2, then unaligned writes through the library across a reopen', async (t) => {
    const path = join(dir, 'inplace.qcow2');
    assert.equal(vdisk('create', '-f', 'qcow2', path, String(SIZE)).status, 0);
    const image = (await openImage(path, { writable: true })) as WritableDiskImage;
    const model = await writeAcrossReopen(image, path, SIZE, async (last, m) => {
      await last.writeZeroes(2 * MiB - 512, 1024);
      m.fill(0, 2 * MiB - 512, 2 * MiB + 512);
    });
    if (!needTools(t, 'qemu-img', 'qcowinfo')) return;
    const expected = join(dir, 'inplace.expected.raw');
    writeFileSync(expected, model);
    oracles(path, expected);
  });

  test('convert -n into a qcow2 qemu made, compressed clusters and all', async (t) => {
    if (!needTools(t, 'qemu-img', 'qcowinfo')) return;
    const theirs = join(dir, 'theirs.qcow2');
    const other = join(dir, 'other.raw');
    await writePatternDisk(other, { size: SIZE, blockSize: 64 * 1024, fraction: 0.5, seed: 0x94 });
    run('qemu-img', ['convert', '-c', '-f', 'raw', '-O', 'qcow2', other, theirs]);
    const r = vdisk('convert', '-n', '-O', 'qcow2', src, theirs);
    assert.equal(r.status, 0, r.stderr);
    oracles(theirs, src);
  });

  for (const [name, options, writes] of [
    ['extended L2 with partly allocated and zero subclusters', 'extended_l2=on,cluster_size=64K', ['write -P 0x11 4k 4k', 'write -P 0x22 1M 8k', 'write -z 2M 64k']],
    ['lazy refcounts and 2 MiB clusters', 'lazy_refcounts=on,cluster_size=2M', ['write -P 0x33 0 3M', 'write -z 8M 2M']],
  ] as const) {
    test(`convert -n into a qcow2 qemu-io wrote: ${name}`, (t) => {
      if (!needTools(t, 'qemu-img', 'qemu-io')) return;
      const theirs = join(dir, `theirs-${options.replace(/[=,]/g, '-')}.qcow2`);
      run('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', options, theirs, String(SIZE)]);
      run('qemu-io', [...writes.flatMap((w) => ['-c', w]), theirs]);
      const r = vdisk('convert', '-n', '-O', 'qcow2', src, theirs);
      assert.equal(r.status, 0, r.stderr);
      qemuCheckClean(theirs, 'qcow2');
      run('qemu-img', ['compare', '-f', 'raw', '-F', 'qcow2', src, theirs]);
    });
  }

  test('vdisk snapshot: a child qemu-img reads through to its base, backing format recorded', async (t) => {
    const base = join(dir, 'base.qcow2');
    const child = join(dir, 'child.qcow2');
    assert.equal(vdisk('convert', '-O', 'qcow2', src, base).status, 0);
    await snapshot(base, child);
    const model = new Uint8Array(await viewOf(base));
    const image = (await openImage(child, { writable: true })) as WritableDiskImage;
    for (const [i, [offset, length]] of [[100, 5000], [5 * MiB + 3, 70000], [SIZE - 9, 9]].entries()) await writeBoth(image, model, offset!, length!, 0x400 + i);
    await image.writeZeroes(8 * MiB, MiB);
    model.fill(0, 8 * MiB, 9 * MiB);
    await image.flush();
    await image.close();
    if (!needTools(t, 'qemu-img', 'qcowinfo')) return;
    const info = JSON.parse(run('qemu-img', ['info', '--output=json', child]).stdout) as { 'backing-filename': string; 'backing-filename-format': string };
    assert.equal(info['backing-filename'], 'base.qcow2');
    assert.equal(info['backing-filename-format'], 'qcow2');
    const expected = join(dir, 'child.expected.raw');
    writeFileSync(expected, model);
    oracles(child, expected);
  });

  test('resize: grow past what the L1 table maps (it moves), write at the new end, then shrink back with --shrink', async (t) => {
    const path = join(dir, 'resized.qcow2');
    assert.equal(vdisk('convert', '-O', 'qcow2', '-o', 'cluster_size=4K', src, path).status, 0);
    const grown = 3 * 1024 * MiB;
    const r = vdisk('resize', path, String(grown));
    assert.equal(r.status, 0, r.stderr);
    const image = (await openImage(path, { writable: true })) as WritableDiskImage;
    const tail = new Uint8Array(5000);
    fillPattern(tail, grown - 5000, 0x77);
    await image.writeAt(tail, grown - 5000);
    await image.flush();
    await image.close();
    assert.equal(vdisk('check', path).status, 0);
    assert.equal(vdisk('resize', path, String(SIZE)).status, 1, 'shrinking needs --shrink');
    assert.equal(vdisk('resize', '--shrink', path, String(SIZE)).status, 1, 'the cut range holds data');
    if (!needTools(t, 'qemu-img', 'qcowinfo')) return;
    const raw = join(dir, 'resized.expected.raw');
    run('cp', ['--sparse=always', src, raw]);
    run('truncate', ['-s', String(grown), raw]);
    const fd = openSync(raw, 'r+');
    writeSync(fd, tail, 0, 5000, grown - 5000);
    closeSync(fd);
    qemuCheckClean(path, 'qcow2');
    run('qemu-img', ['compare', '-f', 'raw', '-F', 'qcow2', raw, path]);
    const zeroed = await openImage(path, { writable: true });
    await (zeroed as WritableDiskImage).writeZeroes(grown - 8192, 8192);
    await (zeroed as WritableDiskImage).flush();
    await zeroed.close();
    const shrunk = vdisk('resize', '--shrink', path, String(SIZE));
    assert.equal(shrunk.status, 0, shrunk.stderr);
    oracles(path, src);
  });

  test('convert raw → qcow2 on stdout', (t) => {
    const out = join(dir, 'piped.qcow2');
    const r = spawnSync('sh', ['-c', `node "${join(REPO_ROOT, 'bin', 'vdisk.js')}" convert -f raw -O qcow2 "${src}" - > "${out}"`], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(vdisk('compare', src, out).status, 0);
    if (!needTools(t, 'qemu-img', 'qcowinfo')) return;
    oracles(out, src);
  });
});

describe('rebase and commit of a qcow2 chain through the generic chain code', () => {
  test('rebase onto the grandparent keeps the view; commit then merges the child into the base', (t) => rebaseThenCommit(t, 'qcow2', 'backingFileName'));
});
