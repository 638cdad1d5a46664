// Oracle: `vdisk convert -c -O qcow2`, read by qemu-img 7.2 (check: no
// errors, no leaks, compressed clusters counted; compare against the source)
// and qcowinfo (libqcow 20201213 opens neither zstd nor extended L2 images,
// qemu's own included), at cluster sizes from 512 bytes to 2 MiB, zlib and
// zstd, version 2 and 3, extended L2, over a disk whose clusters compress
// well, not at all, or are zero, with a size that is no whole number of
// clusters. The file is no larger than qemu-img convert -c makes it, and the
// places -c does not apply say so.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { vdisk } from '../helpers/cli.js';
import { needTools, qemuCheckClean, run } from '../helpers/oracles.js';
import { prng } from '../helpers/prng.js';
import { tempDir } from '../helpers/tmp.js';

const KiB = 1024;
const MiB = 1024 * KiB;
/** Not a whole number of clusters of any size tested (nor of 512-byte sectors: the output rounds up). */
const SIZE = 24 * MiB + 3000;

/**
 * A disk of 4 KiB pieces that are, by turns: text that compresses well, a
 * repeated byte, random bytes, zeros; with random runs of 4.4 MiB every 8 MiB
 * (whole clusters that do not compress, 2 MiB ones too, next to compressed ones) and data in the last bytes.
 */
function mixedDisk(): Uint8Array {
  const disk = new Uint8Array(SIZE);
  const next = prng(0xc0);
  const text = new TextEncoder().encode('the quick brown fox jumps over the lazy dog; vdisk compresses clusters. ');
  for (let at = 0; at < SIZE; at += 4 * KiB) {
    const end = Math.min(SIZE, at + 4 * KiB);
    const kind = Math.floor(next() * 4);
    const inRandomRun = at % (8 * MiB) < 4 * MiB + 384 * KiB;
    if (inRandomRun || kind === 2) for (let i = at; i < end; i++) disk[i] = Math.floor(next() * 256);
    else if (kind === 0) for (let i = at; i < end; i++) disk[i] = text[(i - at) % text.length]!;
    else if (kind === 1) disk.fill(0x5a, at, end);
  }
  disk.fill(0xee, SIZE - 100);
  return disk;
}

/** qemu-img check's share of compressed clusters, in percent. */
function compressedShare(path: string): number {
  const m = /([\d.]+)% compressed clusters/.exec(run('qemu-img', ['check', '-f', 'qcow2', path]).stdout);
  assert.ok(m, 'qemu-img check reports compressed clusters');
  return Number(m[1]);
}

describe('convert -c -O qcow2: compressed clusters qemu-img and qcowinfo read', () => {
  const dir = tempDir('vdisk-qcow2-compressed-');
  const src = join(dir, 'src.raw');

  before(() => writeFileSync(src, mixedDisk()));

  for (const options of ['', 'compression_type=zstd', 'cluster_size=512', 'cluster_size=4K', 'cluster_size=2M', 'compression_type=zstd,cluster_size=2M', 'compat=0.10', 'extended_l2=on,cluster_size=128K', 'lazy_refcounts=on']) {
    test(`convert -c -O qcow2 ${options || '(defaults)'}`, (t) => {
      const out = join(dir, `c-${options.replace(/[=,]/g, '-') || 'default'}.qcow2`);
      const r = vdisk('convert', '-c', '-O', 'qcow2', ...(options ? ['-o', options] : []), src, out);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(vdisk('compare', src, out).status, 0, 'vdisk reads back the source');
      assert.equal(vdisk('check', out).status, 0, 'vdisk check finds it clean');
      if (!needTools(t, 'qemu-img', 'qcowinfo')) return;
      qemuCheckClean(out, 'qcow2');
      run('qemu-img', ['compare', '-f', 'raw', '-F', 'qcow2', src, out]);
      const share = compressedShare(out);
      assert.ok(share > 15 && share < 100, `some clusters are compressed and some stored (${share}%)`);
      const info = JSON.parse(run('qemu-img', ['info', '--output=json', out]).stdout) as { 'format-specific': { data: Record<string, unknown> } };
      if (options.includes('zstd')) assert.equal(info['format-specific'].data['compression-type'], 'zstd');
      if (!options.includes('zstd') && !options.includes('extended_l2')) assert.match(run('qcowinfo', [out]).stdout, /Media size\s*:.*\(25168896 bytes\)/);
      const theirs = join(dir, `q-${options.replace(/[=,]/g, '-') || 'default'}.qcow2`);
      run('qemu-img', ['convert', '-c', '-f', 'raw', '-O', 'qcow2', ...(options ? ['-o', options] : []), src, theirs]);
      assert.ok(statSync(out).size <= statSync(theirs).size * 1.02 + 4 * 2 ** 21, `no larger than qemu-img convert -c makes it (${statSync(out).size} vs ${statSync(theirs).size})`);
      assert.equal(compressedShare(theirs), share, 'the same clusters compress as under qemu-img');
    });
  }

  test('-c -O vmdk writes streamOptimized; formats without compression, pipes, preallocation, -B and create refuse it', (t) => {
    const vmdk = join(dir, 'c.vmdk');
    assert.equal(vdisk('convert', '-c', '-O', 'vmdk', src, vmdk).status, 0);
    assert.match(vdisk('info', vmdk).stdout, /streamOptimized/);
    if (needTools(t, 'qemu-img')) run('qemu-img', ['compare', '-f', 'raw', '-F', 'vmdk', src, vmdk]);
    const refusals: [string[], RegExp][] = [
      [['convert', '-c', '-O', 'vhd', src, join(dir, 'x.vhd')], /vhd cannot hold compressed data \((vmdk and qcow2|qcow2 and vmdk) can\)/],
      [['convert', '-c', '-O', 'vmdk', '-o', 'subformat=monolithicSparse', src, join(dir, 'x.vmdk')], /-c writes vmdk with subformat=streamOptimized/],
      [['convert', '-c', '-O', 'qcow2', src, '-'], /written to a file, not to a pipe/],
      [['convert', '-c', '-O', 'qcow2', '-o', 'preallocation=metadata', src, join(dir, 'x.qcow2')], /compressed qcow2 cannot be preallocated/],
      [['convert', '-c', '-O', 'qcow2', '-B', vmdk, src, join(dir, 'y.qcow2')], /-c and -B/],
      [['create', '-f', 'qcow2', '-o', 'compressed=on', join(dir, 'z.qcow2'), '1M'], /written front to back by convert/],
    ];
    for (const [args, message] of refusals) {
      const r = vdisk(...args);
      assert.equal(r.status, 1, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.match(r.stderr, /\(USAGE\)\n$/);
    }
  });

  test('a disk of one byte value: many compressed clusters share a host cluster, refcounts past 255', (t) => {
    const flat = join(dir, 'flat.raw');
    writeFileSync(flat, new Uint8Array(64 * MiB).fill(0x61));
    const out = join(dir, 'flat.qcow2');
    assert.equal(vdisk('convert', '-c', '-O', 'qcow2', '-o', 'cluster_size=64K', flat, out).status, 0);
    assert.ok(statSync(out).size < 2 * MiB, `1024 compressed clusters fit in a few host clusters (${statSync(out).size} bytes)`);
    if (!needTools(t, 'qemu-img')) return;
    qemuCheckClean(out, 'qcow2');
    run('qemu-img', ['compare', '-f', 'raw', '-F', 'qcow2', flat, out]);
  });
});
