// Oracle: qcow2 images qemu-img 7.2 makes (versions 2 and 3, 4 KiB, 64 KiB
// and 2 MiB clusters, zlib and zstd compression, extended L2, a backing
// chain of depth 3 over a raw base, internal snapshots, lazy refcounts left
// dirty, external data files) read by vdisk byte for byte as
// `qemu-img convert -O raw` reads them; `vdisk check` agrees with
// `qemu-img check`, and qcowinfo (libqcow) with vdisk on the size.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { openImage } from '../../../src/formats/registry.js';
import { check } from '../../../src/ops/check.js';
import type { Finding } from '../../../src/formats/types.js';
import { vdisk } from '../../helpers/cli.js';
import { guestSha256 } from '../../helpers/images.js';
import { needTools, run, sha256OfFile } from '../../helpers/oracles.js';
import { fillPattern } from '../../helpers/pattern-disk.js';
import { tempDir } from '../../helpers/tmp.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/**
 * A raw disk of `size` bytes whose 64 KiB blocks are, in turn, compressible
 * (a repeated byte with a unique stamp every 512 bytes), incompressible
 * pattern data, and holes, so that `-c` makes compressed and plain clusters.
 */
function writeMixedDisk(path: string, size: number): void {
  const buf = Buffer.alloc(size);
  for (let at = 0, i = 0; at < size; at += 64 * KiB, i++) {
    const block = buf.subarray(at, Math.min(size, at + 64 * KiB));
    if (i % 3 === 0) {
      block.fill(i & 0xff);
      for (let s = 0; s + 8 <= block.length; s += 512) block.writeUInt32BE(at + s, s);
    } else if (i % 3 === 1) fillPattern(block, at, 0x1c0);
  }
  writeFileSync(path, buf);
}

/** qemu-img's guest view of `path` as a sha256 (through a raw copy), optionally of snapshot `snapshot`. */
function qemuSha(path: string, snapshot?: string): Promise<string> {
  const raw = `${path}.${snapshot ?? 'active'}.qemu.raw`;
  run('qemu-img', ['convert', ...(snapshot ? ['-l', snapshot] : []), '-O', 'raw', path, raw]);
  return sha256OfFile(raw);
}

async function vdiskSha(path: string, snapshot?: string): Promise<string> {
  const image = await openImage(path, { snapshot });
  try {
    return await guestSha256(image);
  } finally {
    await image.close();
  }
}

/** qemu-img check's counts: corruptions (ERROR lines) and leaked clusters. */
function qemuCheck(path: string): { corruptions: number; leaks: number } {
  const r = run('qemu-img', ['check', '--output=json', path], true);
  const j = JSON.parse(r.stdout) as { corruptions?: number; leaks?: number };
  return { corruptions: j.corruptions ?? 0, leaks: j.leaks ?? 0 };
}

/** How many findings of `code` a check made, the ones past the listing cap included. */
function count(findings: Finding[], code: string): number {
  return findings.filter((f) => f.code === code).reduce((n, f) => n + (f.severity === 'warning' ? Number(/^(\d+) more/.exec(f.message)?.[1] ?? 0) : 1), 0);
}

describe('vdisk reads what qemu-img convert -O qcow2 writes', () => {
  const dir = tempDir('vdisk-qemu-qcow2-');
  const src = join(dir, 'src.raw');
  before(() => writeMixedDisk(src, 24 * MiB + 200 * KiB));

  const cases: string[][] = [];
  for (const compat of ['0.10', '1.1']) {
    for (const cluster of ['4k', '64k', '2M']) {
      for (const compression of ['none', 'zlib', 'zstd']) {
        if (compat === '0.10' && compression === 'zstd') continue;
        cases.push([`compat=${compat},cluster_size=${cluster}${compression === 'zstd' ? ',compression_type=zstd' : ''}`, compression]);
      }
    }
  }
  for (const cluster of ['64k', '2M']) for (const compression of ['none', 'zlib', 'zstd']) cases.push([`extended_l2=on,cluster_size=${cluster}${compression === 'zstd' ? ',compression_type=zstd' : ''}`, compression]);

  for (const [options, compression] of cases) {
    // libqcow reads neither zstd clusters nor extended L2 entries.
    const libqcow = compression !== 'zstd' && !options.includes('extended_l2');
    test(`${options}${compression !== 'none' ? ' -c' : ''}`, async (t) => {
      if (!needTools(t, 'qemu-img', ...(libqcow ? ['qcowinfo'] : []))) return;
      const path = join(dir, `${options.replace(/[=,]/g, '_')}-${compression}.qcow2`);
      run('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', ...(compression !== 'none' ? ['-c'] : []), '-o', options, src, path]);
      const sha = await vdiskSha(path);
      assert.equal(sha, await qemuSha(path));
      assert.equal(sha, await sha256OfFile(src), 'and it is the source disk');
      const report = await check(path);
      assert.deepEqual(report.findings, []);
      assert.deepEqual(qemuCheck(path), { corruptions: 0, leaks: 0 });
      if (libqcow) assert.match(run('qcowinfo', [path]).stdout, new RegExp(`Media size\\s*:.*\\(${24 * MiB + 200 * KiB} bytes\\)`));
    });
  }
});

describe('qemu-made chains, snapshots, dirty images and data files', () => {
  const dir = tempDir('vdisk-qemu-qcow2-chain-');
  const base = join(dir, 'base.raw');
  before(() => writeMixedDisk(base, 12 * MiB));

  test('a chain of depth 3 over a raw base, the top larger than the base, with extended L2 and write -z', async (t) => {
    if (!needTools(t, 'qemu-img', 'qemu-io')) return;
    const mid = join(dir, 'mid.qcow2');
    const top = join(dir, 'top.qcow2');
    run('qemu-img', ['create', '-f', 'qcow2', '-o', 'compat=0.10', '-b', 'base.raw', '-F', 'raw', mid, '16M']);
    run('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0xab 100k 300k', '-c', 'write -P 0xcd 13M 64k', mid]);
    run('qemu-img', ['create', '-f', 'qcow2', '-o', 'extended_l2=on', '-b', 'mid.qcow2', '-F', 'qcow2', top, '20M']);
    run('qemu-io', ['-f', 'qcow2', '-c', 'write -z 0 128k', '-c', 'write -P 0xef 150k 4k', '-c', 'write -P 0x12 18M 8k', top]);
    for (const path of [mid, top]) assert.equal(await vdiskSha(path), await qemuSha(path));
    const image = await openImage(top);
    try {
      assert.equal(image.parent?.parent?.path, base, 'three layers');
      assert.equal(image.parent?.parent?.format, 'raw');
    } finally {
      await image.close();
    }
    assert.deepEqual((await check(top)).findings, []);
    const map = vdisk('map', '--json', top);
    assert.equal(map.status, 0, map.stderr);
  });

  test('internal snapshots: info lists them, -l reads each by name or ID for convert, compare and map', async (t) => {
    if (!needTools(t, 'qemu-img', 'qemu-io')) return;
    const path = join(dir, 'snap.qcow2');
    run('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', base, path]);
    run('qemu-img', ['snapshot', '-c', 'first', path]);
    run('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x77 0 2M', path]);
    run('qemu-img', ['snapshot', '-c', 'second', path]);
    run('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x78 4M 1M', path]);
    assert.equal(await vdiskSha(path, 'first'), await sha256OfFile(base));
    assert.equal(await vdiskSha(path, 'first'), await qemuSha(path, 'first'));
    assert.equal(await vdiskSha(path, '2'), await qemuSha(path, 'second'));
    assert.equal(await vdiskSha(path), await qemuSha(path));
    const info = JSON.parse(vdisk('info', '--json', path).stdout) as { snapshots: { id: string; name: string; virtualSize: number }[] };
    assert.deepEqual(info.snapshots.map((s) => [s.id, s.name, s.virtualSize]), [['1', 'first', 12 * MiB], ['2', 'second', 12 * MiB]]);
    assert.match(vdisk('info', path).stdout, /^1 +first /m);
    const out = join(dir, 'first.raw');
    assert.equal(vdisk('convert', '-l', 'first', '-O', 'raw', path, out).status, 0);
    assert.equal(await sha256OfFile(out), await sha256OfFile(base));
    assert.equal(vdisk('compare', '--snapshot', 'first', path, base).status, 0);
    assert.equal(vdisk('compare', path, base).status, 1);
    assert.equal(vdisk('map', '-l', '1', path).status, 0);
    assert.match(vdisk('convert', '-l', 'third', '-O', 'raw', path, join(dir, 'x.raw')).stderr, /no snapshot .*third.*first/);
    assert.deepEqual(qemuCheck(path), { corruptions: 0, leaks: 0 });
    assert.deepEqual((await check(path)).findings, []);
  });

  test('snapshots taken at other sizes: each reads at its own disk size, and a snapshot table that ends the file unpadded is no error', async (t) => {
    if (!needTools(t, 'qemu-img', 'qemu-io')) return;
    const path = join(dir, 'resized.qcow2');
    run('qemu-img', ['create', '-f', 'qcow2', path, '20M']);
    run('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x11 0 1M', '-c', 'write -P 0x12 19M 1M', path]);
    run('qemu-img', ['snapshot', '-c', 's1', path]);
    run('qemu-img', ['resize', path, '30M']);
    run('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x21 25M 1M', path]);
    run('qemu-img', ['snapshot', '-c', 's2', path]);
    // Shrinking rewrites the snapshot table at the end of the file, 139 bytes long: its last entry is not padded to 8.
    run('qemu-img', ['resize', '--shrink', path, '10M']);
    assert.deepEqual(qemuCheck(path), { corruptions: 0, leaks: 0 });
    assert.deepEqual((await check(path)).findings, []);
    const info = JSON.parse(vdisk('info', '--json', path).stdout) as { snapshots: { name: string; virtualSize: number }[] };
    assert.deepEqual(info.snapshots.map((x) => [x.name, x.virtualSize]), [['s1', 20 * MiB], ['s2', 30 * MiB]]);
    const s1 = await openImage(path, { snapshot: 's1' });
    try {
      assert.equal(s1.virtualSize, 20 * MiB, 'the disk size s1 was taken at');
      const at19 = new Uint8Array(MiB);
      await s1.readAt(at19, 19 * MiB);
      assert.ok(at19.every((x) => x === 0x12));
    } finally {
      await s1.close();
    }
    // qemu-img convert -l cuts a snapshot to the current disk size (10 MiB): vdisk's view of s1 starts with what qemu's holds.
    const theirs = join(dir, 'resized-s1.raw');
    run('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', '-l', 'snapshot.name=s1', path, theirs]);
    const ours = join(dir, 'resized-s1-vdisk.raw');
    assert.equal(vdisk('convert', '-l', 's1', '-O', 'raw', path, ours).status, 0);
    assert.deepEqual(readFileSync(ours).subarray(0, 10 * MiB), readFileSync(theirs));
  });

  test('lazy refcounts left dirty by a crash: reads as qemu-img does, the dirty bit is reported, check counts what qemu-img check counts', async (t) => {
    if (!needTools(t, 'qemu-img', 'qemu-io')) return;
    const path = join(dir, 'dirty.qcow2');
    run('qemu-img', ['create', '-f', 'qcow2', '-o', 'lazy_refcounts=on', path, '8M']);
    run('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x33 1M 1M', '-c', 'abort', path], true);
    const warnings: string[] = [];
    const theirs = await qemuSha(path);
    const image = await openImage(path, { onWarning: (w) => warnings.push(w) });
    try {
      assert.equal(image.describe().formatSpecific?.dirty, true);
      assert.equal(await guestSha256(image), theirs);
    } finally {
      await image.close();
    }
    assert.ok(warnings.some((w) => /dirty bit/.test(w)), warnings.join('|'));
    const report = await check(path);
    const q = qemuCheck(path);
    assert.ok(q.corruptions > 0, 'qemu-img check finds the refcounts stale');
    assert.equal(count(report.findings, 'REFCOUNT_MISMATCH') + count(report.findings, 'OFLAG_COPIED'), q.corruptions);
    assert.equal(vdisk('check', path).status, 2);
  });

  test('external data files, plain and raw, named by absolute path: read beside the image, with a warning', async (t) => {
    if (!needTools(t, 'qemu-img', 'qemu-io')) return;
    for (const raw of [false, true]) {
      const path = join(dir, `df-${raw}.qcow2`);
      run('qemu-img', ['create', '-f', 'qcow2', '-o', `data_file=${join(dir, `df-${raw}.data`)}${raw ? ',data_file_raw=on' : ''}`, path, '10M']);
      run('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x22 1M 100k', '-c', 'write -P 0x23 9M 1M', path]);
      const warnings: string[] = [];
      const image = await openImage(path, { onWarning: (w) => warnings.push(w) });
      try {
        assert.ok(warnings.some((w) => /absolute path/.test(w)), warnings.join('|'));
        assert.deepEqual(image.layer.files(), [path, join(dir, `df-${raw}.data`)]);
        assert.equal(image.describe().formatSpecific?.dataFileRaw, raw);
      } finally {
        await image.close();
      }
      assert.equal(await vdiskSha(path), await qemuSha(path));
      assert.deepEqual((await check(path)).findings, []);
    }
  });

  test('persistent bitmaps: their directory, tables and data clusters are counted, so check is clean as qemu-img check is', async (t) => {
    if (!needTools(t, 'qemu-img', 'qemu-io')) return;
    const path = join(dir, 'bitmaps.qcow2');
    run('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', base, path]);
    run('qemu-img', ['bitmap', '--add', path, 'bm1']);
    run('qemu-img', ['bitmap', '--add', '-g', '65536', path, 'bm2']);
    run('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x44 0 3M', path]);
    assert.deepEqual(qemuCheck(path), { corruptions: 0, leaks: 0 });
    assert.deepEqual((await check(path)).findings, []);
    const image = await openImage(path);
    try {
      assert.equal(image.describe().formatSpecific?.bitmaps, 2);
    } finally {
      await image.close();
    }
  });

  test('check: a leaked cluster and a refcount too low are counted as qemu-img check counts them (exit 3, then 2)', async (t) => {
    if (!needTools(t, 'qemu-img')) return;
    const path = join(dir, 'leak.qcow2');
    run('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', base, path]);
    const bytes = readFileSync(path);
    const rt = Number(bytes.readBigUInt64BE(48));
    const block = Number(bytes.readBigUInt64BE(rt));
    const clusters = Math.ceil(bytes.length / 65536);
    bytes.writeUInt16BE(1, block + 2 * clusters);
    bytes.writeUInt16BE(1, block + 2 * (clusters + 1));
    const leaky = join(dir, 'leaky.qcow2');
    writeFileSync(leaky, Buffer.concat([bytes, Buffer.alloc(clusters * 65536 - bytes.length + 2 * 65536)]));
    assert.deepEqual(qemuCheck(leaky), { corruptions: 0, leaks: 2 });
    assert.equal(count((await check(leaky)).findings, 'LEAKED_CLUSTER'), 2);
    assert.equal(vdisk('check', leaky).status, 3);
    bytes.writeUInt16BE(0, block + 2 * (clusters - 1));
    const low = join(dir, 'low.qcow2');
    writeFileSync(low, bytes);
    const q = qemuCheck(low);
    const ours = (await check(low)).findings;
    assert.equal(count(ours, 'REFCOUNT_MISMATCH') + count(ours, 'OFLAG_COPIED'), q.corruptions);
    assert.equal(vdisk('check', low).status, 2);
  });
});
