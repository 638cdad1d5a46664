import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { formats, openImage } from '../../src/formats/registry.js';
import { check } from '../../src/ops/check.js';
import { compare } from '../../src/ops/compare.js';
import { convert } from '../../src/ops/convert.js';
import { PROFILES } from '../../src/targets/profiles.js';
import { profileOutput } from '../../src/targets/profile-output.js';
import { writePatternDisk } from '../helpers/pattern-disk.js';
import { REPO_ROOT, vdisk } from '../helpers/cli.js';
import { needTools, qemuCheckClean, run } from '../helpers/oracles.js';
import { tempDir } from '../helpers/tmp.js';
import { patchBothFooters, patchU64 } from '../helpers/vhd.js';

const MiB = 1024 * 1024;

test('an image made with --target meets every rule of its profile, and keeps the guest view', async () => {
  const dir = tempDir();
  const raw = join(dir, 'src.raw');
  await writePatternDisk(raw, { size: 21 * MiB + 1536, blockSize: 256 * 1024, fraction: 0.4 });
  for (const p of PROFILES) {
    const out = join(dir, `out-${p.name}`);
    await convert(raw, out, { target: p.name });
    const report = await check(out, { target: p.name });
    assert.ok(report.target, p.name);
    for (const r of report.target.rules) assert.ok(r.ok, `${p.name}: ${r.text}: ${r.detail}`);
    assert.equal(report.result, 'clean', `${p.name}: ${JSON.stringify(report.findings)}`);
    const image = await openImage(out);
    assert.equal(image.format, profileOutput(p).format, p.name);
    assert.equal(image.virtualSize % p.sizeMultiple, 0, `${p.name}: size rounded up`);
    assert.ok(image.virtualSize >= 21 * MiB + 1536 && image.virtualSize < 21 * MiB + 1536 + p.sizeMultiple);
    await image.close();
    const cmp = await compare(raw, out);
    assert.equal(cmp.identical, true, `${p.name}: the added tail is zeros and the rest is the source`);
  }
});

test('check --target names each rule an image breaks and exits 2', async () => {
  const dir = tempDir();
  const raw = join(dir, 'src.raw');
  await writePatternDisk(raw, { size: 21 * MiB + 1536, blockSize: 256 * 1024, fraction: 0.4 });
  const dyn = join(dir, 'dyn.vhd');
  await convert(raw, dyn, { outputFormat: 'vhd' });
  const r = vdisk('check', '--json', '--target', 'azure', dyn);
  assert.equal(r.status, 2);
  const report = JSON.parse(r.stdout) as { result: string; target: { rules: { id: string; ok: boolean }[] } };
  assert.equal(report.result, 'nonconformant');
  const failed = report.target.rules.filter((x) => !x.ok).map((x) => x.id).sort();
  assert.deepEqual(failed, ['footer-only', 'size-multiple-1MiB', 'vhd-fixed']);
  const conflict = vdisk('convert', '--target', 'azure', '-O', 'vhdx', raw, join(dir, 'x.vhdx'));
  assert.equal(conflict.status, 1);
  assert.match(conflict.stderr, /--target azure writes vhd, not vhdx .*\(USAGE\)/);
  assert.equal(vdisk('convert', '--target', 'nope', raw, join(dir, 'y')).status, 1);
});

test('check --target qemu accepts a qcow2 that qemu-img wrote and refuses a VMDK; convert --target qemu writes a qcow2 qemu-img checks clean', async (t) => {
  if (!needTools(t, 'qemu-img')) return;
  const dir = tempDir();
  const raw = join(dir, 'src.raw');
  await writePatternDisk(raw, { size: 8 * MiB, blockSize: 256 * 1024, fraction: 0.4 });
  const qcow2 = join(dir, 'q.qcow2');
  run('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, qcow2]);
  const ok = vdisk('check', '--json', '--target', 'qemu', qcow2);
  assert.equal(ok.status, 0, ok.stdout + ok.stderr);
  const vmdk = join(dir, 'v.vmdk');
  await convert(raw, vmdk, { outputFormat: 'vmdk' });
  const refused = vdisk('check', '--json', '--target', 'qemu', vmdk);
  assert.equal(refused.status, 2);
  assert.match(refused.stdout, /qemu cannot open vmdk here/);
  const ours = join(dir, 'ours.img');
  await convert(raw, ours, { target: 'qemu' });
  qemuCheckClean(ours, 'qcow2');
  run('qemu-img', ['compare', '-f', 'raw', '-F', 'qcow2', raw, ours]);
});

test('docs/targets.md records every rule of every profile with its source', () => {
  const doc = readFileSync(join(REPO_ROOT, 'docs', 'targets.md'), 'utf8');
  for (const p of PROFILES) {
    assert.match(doc, new RegExp(`## ${p.name}\\b`), `section for ${p.name}`);
    for (const r of p.rules) assert.ok(doc.includes(`\`${r.id}\``), `${p.name}: rule ${r.id} is documented`);
  }
});

test('a profile writes the first of its outputs that a registered format can write; a stand-in carries a note', () => {
  for (const p of PROFILES) {
    const out = profileOutput(p);
    assert.ok(formats().some((f) => f.name === out.format && f.create), p.name);
    const first = p.outputs.findIndex((o) => formats().some((f) => f.name === o.format && f.create));
    assert.equal(out, p.outputs[first], `${p.name}: the first writable output`);
    if (first > 0) assert.ok(out.note, `${p.name}: a stand-in says so`);
  }
  assert.throws(() => profileOutput({ ...PROFILES[0]!, outputs: [{ format: 'nothing', options: {} }] }), { code: 'UNSUPPORTED' });
});

test('--target vmware writes streamOptimized unless -o subformat=monolithicSparse asks for Workstation\'s format', async () => {
  const dir = tempDir();
  const raw = join(dir, 'src.raw');
  await writePatternDisk(raw, { size: 3 * MiB, blockSize: 64 * 1024, fraction: 0.5 });
  for (const [options, subformat] of [[{}, 'streamOptimized'], [{ subformat: 'monolithicSparse' }, 'monolithicSparse']] as const) {
    const out = join(dir, `${subformat}.vmdk`);
    await convert(raw, out, { target: 'vmware', options });
    const image = await openImage(out);
    try {
      assert.equal(image.describe().subformat, subformat);
    } finally {
      await image.close();
    }
    assert.equal((await check(out, { target: 'vmware' })).result, subformat === 'streamOptimized' ? 'clean' : 'nonconformant');
  }
});

test('check --target xen refuses a VHD whose original size is larger than its current size, as vhd-lib does', async () => {
  const dir = tempDir();
  const raw = join(dir, 'src.raw');
  await writePatternDisk(raw, { size: 4 * MiB, blockSize: 256 * 1024, fraction: 0.4 });
  const vhd = join(dir, 'xen.vhd');
  await convert(raw, vhd, { target: 'xen' });
  patchBothFooters(vhd, (footer) => patchU64(vhd, footer + 40, BigInt(8 * MiB)));
  const report = await check(vhd, { target: 'xen' });
  const failed = report.target!.rules.filter((r) => !r.ok);
  assert.deepEqual(failed.map((r) => r.id), ['original-size']);
  assert.match(failed[0]!.detail!, /original size 8388608 is larger than current size 4194304/);
});
