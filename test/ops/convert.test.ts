import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { DiskImageError } from '../../src/errors.js';
import { convert } from '../../src/ops/convert.js';
import { openImage } from '../../src/formats/registry.js';
import { compare } from '../../src/ops/compare.js';
import { writePatternDisk } from '../helpers/pattern-disk.js';
import { fileHelper } from '../../src/io/native.js';
import { REPO_ROOT } from '../helpers/cli.js';
import { descriptorsOn } from '../helpers/descriptors.js';
import { tempDir } from '../helpers/tmp.js';

const MiB = 1024 * 1024;

function leftovers(dir: string): string[] {
  return readdirSync(dir).filter((n) => n.includes('vdisk-tmp'));
}

test('an interrupted convert throws and leaves no partial output', async () => {
  const dir = tempDir();
  const raw = join(dir, 'src.raw');
  await writePatternDisk(raw, { size: 64 * MiB, blockSize: MiB, fraction: 0.5 });
  const ac = new AbortController();
  let calls = 0;
  const p = convert(raw, join(dir, 'out.vhd'), {
    outputFormat: 'vhd',
    signal: ac.signal,
    onProgress: () => {
      if (++calls === 1) ac.abort();
    },
  });
  await assert.rejects(p, (e: unknown) => e instanceof DiskImageError && e.code === 'IO');
  assert.equal(existsSync(join(dir, 'out.vhd')), false);
  assert.deepEqual(leftovers(dir), []);
});

test('a failing target (size past the VHD limit) leaves no partial output', async () => {
  const dir = tempDir();
  const raw = join(dir, 'huge.raw');
  await writePatternDisk(raw, { size: MiB, blockSize: MiB, fraction: 1 });
  await truncate(raw, 2041 * 1024 * MiB);
  await assert.rejects(convert(raw, join(dir, 'out.vhd'), { outputFormat: 'vhd' }), (e: unknown) => e instanceof DiskImageError && e.code === 'OUT_OF_RANGE');
  assert.deepEqual(readdirSync(dir), ['huge.raw']);
});

test('convert to every VHD subformat and back keeps the guest view', async () => {
  const dir = tempDir();
  const raw = join(dir, 'src.raw');
  await writePatternDisk(raw, { size: 40 * MiB + 1536, blockSize: 256 * 1024, fraction: 0.4 });
  const outs: [string, Record<string, string>][] = [
    ['fixed.vhd', { subformat: 'fixed' }],
    ['dyn.vhd', {}],
    ['dyn512k.vhd', { block_size: '512K' }],
  ];
  for (const [name, options] of outs) {
    await convert(raw, join(dir, name), { outputFormat: 'vhd', options });
    assert.equal((await compare(raw, join(dir, name))).identical, true, name);
    await convert(join(dir, name), join(dir, `${name}.raw`), { outputFormat: 'raw' });
    assert.equal((await compare(raw, join(dir, `${name}.raw`))).identical, true, `${name} back to raw`);
  }
});

test('Ctrl-C (SIGINT) during convert exits 130 and removes the partial file', async () => {
  const dir = tempDir();
  const raw = join(dir, 'big.raw');
  await writePatternDisk(raw, { size: MiB, blockSize: MiB, fraction: 1 });
  await truncate(raw, 64 * 1024 * MiB);
  // Without the native helper every byte of the sparse file is read, so the copy runs for seconds.
  const child = spawn(process.execPath, [join(REPO_ROOT, 'bin', 'vdisk.js'), 'convert', '-O', 'vhd', raw, join(dir, 'out.vhd')], {
    env: { ...process.env, VDISK_NO_NATIVE: '1' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += String(d)));
  await new Promise((r) => setTimeout(r, 700));
  child.kill('SIGINT');
  const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  assert.equal(code, 130, stderr);
  assert.deepEqual(readdirSync(dir), ['big.raw']);
});

test('a converted disk gets a new UUID unless --keep-uuid, across VHD and VHDX', async () => {
  const dir = tempDir();
  const raw = join(dir, 'src.raw');
  await writePatternDisk(raw, { size: 4 * MiB, blockSize: MiB, fraction: 0.5 });
  const uuidOf = async (p: string) => {
    const image = await openImage(p);
    const u = image.describe().uuid;
    await image.close();
    return u;
  };
  await convert(raw, join(dir, 'a.vhd'), { outputFormat: 'vhd' });
  const a = await uuidOf(join(dir, 'a.vhd'));
  await convert(join(dir, 'a.vhd'), join(dir, 'b.vhdx'), { outputFormat: 'vhdx', keepUuid: true });
  await convert(join(dir, 'b.vhdx'), join(dir, 'c.vhd'), { outputFormat: 'vhd', keepUuid: true });
  await convert(join(dir, 'c.vhd'), join(dir, 'd.vhd'), { outputFormat: 'vhd' });
  assert.equal(await uuidOf(join(dir, 'b.vhdx')), a);
  assert.equal(await uuidOf(join(dir, 'c.vhd')), a);
  assert.notEqual(await uuidOf(join(dir, 'd.vhd')), a);
  await assert.rejects(convert(raw, join(dir, 'e.vhd'), { outputFormat: 'vhd', keepUuid: true }), /has no UUID to keep/);
});

test('preallocation=full writes files with every data byte allocated; dynamic layouts refuse it', async () => {
  const dir = tempDir();
  const raw = join(dir, 'src.raw');
  await writePatternDisk(raw, { size: 8 * MiB, blockSize: MiB, fraction: 0.25 });
  for (const [format, options] of [
    ['raw', { preallocation: 'full' }],
    ['vhd', { subformat: 'fixed', preallocation: 'full' }],
    ['vhdx', { subformat: 'fixed', preallocation: 'full', block_size: '1M' }],
  ] as const) {
    const out = join(dir, `full.${format}`);
    await convert(raw, out, { outputFormat: format, options });
    assert.ok(statSync(out).blocks * 512 >= 8 * MiB, `${format}: allocated ${statSync(out).blocks * 512}`);
    assert.equal((await compare(raw, out)).identical, true, format);
  }
  await assert.rejects(convert(raw, join(dir, 'dyn.vhd'), { outputFormat: 'vhd', options: { preallocation: 'full' } }), /needs subformat=fixed/);
  assert.deepEqual(leftovers(dir), []);
});

test('-t none writes new outputs through an O_DIRECT descriptor, -t writeback through the page cache only; both give the same guest view', async () => {
  const dir = tempDir();
  const raw = join(dir, 'src.raw');
  await writePatternDisk(raw, { size: 32 * MiB, blockSize: MiB, fraction: 0.5 });
  for (const format of ['raw', 'vhd', 'vhdx']) {
    for (const cache of ['none', 'writeback'] as const) {
      const out = join(dir, `${cache}.${format}`);
      let seen = { direct: 0, buffered: 0 };
      await convert(raw, out, {
        outputFormat: format,
        cache,
        onProgress: () => {
          const now = descriptorsOn((p) => p.startsWith(dir) && p.includes('vdisk-tmp'));
          seen = { direct: Math.max(seen.direct, now.direct), buffered: Math.max(seen.buffered, now.buffered) };
        },
      });
      assert.deepEqual(seen, { direct: cache === 'none' && fileHelper.kind === 'native' ? 1 : 0, buffered: 1 }, `${format}, -t ${cache}`);
      assert.equal((await compare(raw, out)).identical, true, `${format}, -t ${cache}`);
    }
  }
});
