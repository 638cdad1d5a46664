/**
 * `convert -B BACKING` (as qemu-img convert -B): a new child of an existing
 * image holding only what differs from it, for every format with
 * differencing images; qemu-img reads the chain where it can.
 */
import assert from 'node:assert/strict';
import { copyFileSync, readdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { formats, openImage } from '../../src/formats/registry.js';
import { check } from '../../src/ops/check.js';
import { convert } from '../../src/ops/convert.js';
import { rejectsWithCode } from '../helpers/assert-error.js';
import { vdisk } from '../helpers/cli.js';
import { extentsOf, guestSha256OfFile } from '../helpers/images.js';
import { needTools, run } from '../helpers/oracles.js';
import { fillPattern, writePatternDisk } from '../helpers/pattern-disk.js';
import { tempDir } from '../helpers/tmp.js';

const MiB = 1024 * 1024;
const SIZE = 24 * MiB;

/** qemu's name of each differencing format whose chains qemu-img 7.2 reads (not VHD or VHDX children, nor differencing VDI). */
const QEMU_CHAIN: Record<string, string> = { vmdk: 'vmdk', qcow2: 'qcow2' };

for (const f of formats().filter((x) => x.differencing && x.create)) {
  test(`convert -B into ${f.name}: the child holds only what differs, and reads as the source`, async (t) => {
    const dir = tempDir();
    const baseRaw = join(dir, 'base.raw');
    await writePatternDisk(baseRaw, { size: SIZE, blockSize: MiB, fraction: 0.5 });
    const srcRaw = join(dir, 'src.raw');
    copyFileSync(baseRaw, srcRaw);
    const bytes = readFileSync(srcRaw);
    bytes.fill(0x5a, 3 * MiB + 4096, 3 * MiB + 8192);
    bytes.fill(0, 10 * MiB, 12 * MiB);
    bytes.fill(0x33, SIZE - 512);
    writeFileSync(srcRaw, bytes);
    const base = join(dir, `base.${f.extension}`);
    await convert(baseRaw, base, { outputFormat: f.name });
    const child = join(dir, `child.${f.extension}`);
    const result = await convert(srcRaw, child, { outputFormat: f.name, backing: base });
    assert.ok(result.writtenBytes > 0 && result.writtenBytes <= 4 * MiB, `wrote ${result.writtenBytes} bytes`);
    assert.equal(await guestSha256OfFile(child), await guestSha256OfFile(srcRaw));
    const image = await openImage(child);
    try {
      assert.equal(image.parent?.path, base);
      const own = (await extentsOf(image, true)).filter((e) => e.kind !== 'unallocated').reduce((n, e) => n + e.length, 0);
      assert.ok(own <= 4 * MiB + 2 * f.blockSizes!.default, `the child holds ${own} bytes of its own`);
    } finally {
      await image.close();
    }
    assert.deepEqual((await check(child)).findings, []);
    const qemu = QEMU_CHAIN[f.name];
    if (qemu && needTools(t, 'qemu-img')) run('qemu-img', ['compare', '-f', 'raw', '-F', qemu, srcRaw, child]);
  });
}

test('convert -B refuses a format without differencing images, a backing of another size, and stdout', async () => {
  const dir = tempDir();
  const raw = join(dir, 'a.raw');
  await writePatternDisk(raw, { size: 4 * MiB, blockSize: MiB, fraction: 0.5 });
  const base = join(dir, 'base.qcow2');
  await convert(raw, base, { outputFormat: 'qcow2' });
  await rejectsWithCode(convert(raw, join(dir, 'x.raw'), { outputFormat: 'raw', backing: base }), 'USAGE');
  const small = join(dir, 'small.qcow2');
  await writePatternDisk(join(dir, 'b.raw'), { size: 2 * MiB, blockSize: MiB, fraction: 0.5 });
  await convert(join(dir, 'b.raw'), small, { outputFormat: 'qcow2' });
  await rejectsWithCode(convert(raw, join(dir, 'y.qcow2'), { outputFormat: 'qcow2', backing: small }), 'USAGE');
  const r = vdisk('convert', '-O', 'qcow2', '-B', base, raw, '-');
  assert.equal(r.status, 1);
  assert.match(r.stderr, /-B writes a differencing child/);
  const ok = vdisk('convert', '-O', 'qcow2', '-B', base, raw, join(dir, 'z.qcow2'));
  assert.equal(ok.status, 0, ok.stderr);
});

test('convert --target -B keeps the chain where the hypervisor runs children, and refuses where it does not', async () => {
  const dir = tempDir();
  const raw = join(dir, 'a.raw');
  await writePatternDisk(raw, { size: 8 * MiB, blockSize: MiB, fraction: 0.5 });
  // A differencing VDI finds its parent among the .vdi files beside it, so every file has its format's extension.
  const ext: Record<string, string> = { hyperv: 'vhdx', xen: 'vhd', virtualbox: 'vdi', qemu: 'qcow2', azure: 'vhd', vmware: 'vmdk' };
  for (const target of ['hyperv', 'xen', 'virtualbox', 'qemu']) {
    const base = join(dir, `base-${target}.${ext[target]}`);
    await convert(raw, base, { target });
    const child = join(dir, `child-${target}.${ext[target]}`);
    await convert(raw, child, { target, backing: base });
    const r = vdisk('check', '--target', target, child);
    assert.equal(r.status, 0, `${target}: ${r.stdout}${r.stderr}`);
    assert.equal(await guestSha256OfFile(child), await guestSha256OfFile(raw));
  }
  for (const target of ['azure', 'vmware']) {
    const base = join(dir, `base-${target}.${ext[target]}`);
    await convert(raw, base, { target });
    await rejectsWithCode(convert(raw, join(dir, `child-${target}.${ext[target]}`), { target, backing: base }), 'USAGE');
  }
});

/** A differencing VDI finds its parent among the .vdi files beside it, so every file has its format's extension. */
const TARGET_EXT: Record<string, string> = { hyperv: 'vhdx', xen: 'vhd', virtualbox: 'vdi', qemu: 'qcow2' };

/** A raw disk of `size` bytes: pattern data in 1 MiB blocks (half of them), and its last `tail` bytes written too. */
async function rawDisk(path: string, size: number, seed: number, tail: number): Promise<void> {
  await writePatternDisk(path, { size, blockSize: MiB, fraction: 0.5, seed });
  const bytes = readFileSync(path);
  fillPattern(bytes.subarray(size - tail), size - tail, seed);
  writeFileSync(path, bytes);
}

/** A copy of raw file `path` grown with zeros to `size` bytes: the guest view of a disk rounded up. */
function paddedCopy(path: string, size: number): string {
  const padded = `${path}.padded`;
  copyFileSync(path, padded);
  truncateSync(padded, size);
  return padded;
}

test('convert --target -B over a backing --target rounded up: the child has its size and reads as the source, zeros past its end', async (t) => {
  const dir = tempDir();
  // Not a whole sector, MiB or 2 MiB: every profile rounds it up (qemu to the next sector).
  const size = 8 * MiB + 1636;
  const baseRaw = join(dir, 'base.raw');
  await rawDisk(baseRaw, size, 0xba5e, 4096);
  const srcRaw = join(dir, 'src.raw');
  copyFileSync(baseRaw, srcRaw);
  const bytes = readFileSync(srcRaw);
  bytes.fill(0x5a, 2 * MiB + 4096, 2 * MiB + 8192);
  bytes.fill(0x33, size - 100);
  writeFileSync(srcRaw, bytes);
  for (const target of ['hyperv', 'xen', 'virtualbox', 'qemu']) {
    const base = join(dir, `base-${target}.${TARGET_EXT[target]}`);
    const rounded = (await convert(baseRaw, base, { target })).virtualSize;
    assert.ok(rounded > size, `${target} rounds ${size} up`);
    const child = join(dir, `child-${target}.${TARGET_EXT[target]}`);
    const warnings: string[] = [];
    const result = await convert(srcRaw, child, { target, backing: base, onWarning: (w) => warnings.push(w) });
    assert.equal(result.virtualSize, rounded, target);
    assert.ok(result.writtenBytes > 0 && result.writtenBytes <= 4 * 64 * 1024, `${target}: wrote ${result.writtenBytes} bytes`);
    assert.match(warnings.join('\n'), new RegExp(`rounded up to ${rounded} bytes`), target);
    assert.equal(await guestSha256OfFile(child), await guestSha256OfFile(paddedCopy(srcRaw, rounded)), target);
    const r = vdisk('check', '--target', target, child);
    assert.equal(r.status, 0, `${target}: ${r.stdout}${r.stderr}`);
    if (target === 'qemu' && needTools(t, 'qemu-img')) run('qemu-img', ['compare', '-f', 'raw', '-F', 'qcow2', srcRaw, child]);
  }
});

test('convert --target -B: where the backing holds data past the source\'s end, the child reads zeros there', async () => {
  const dir = tempDir();
  const size = 8 * MiB + 1536;
  // 8 MiB + 4 KiB rounds to 9 MiB too, and its last 4 KiB (past the source's end) hold data.
  const baseRaw = join(dir, 'base.raw');
  await rawDisk(baseRaw, 8 * MiB + 4096, 0xba5e, 4096);
  const srcRaw = join(dir, 'src.raw');
  await rawDisk(srcRaw, size, 0x5eed, 512);
  for (const target of ['hyperv', 'virtualbox']) {
    const base = join(dir, `base-${target}.${TARGET_EXT[target]}`);
    assert.equal((await convert(baseRaw, base, { target })).virtualSize, 9 * MiB);
    const child = join(dir, `child-${target}.${TARGET_EXT[target]}`);
    assert.equal((await convert(srcRaw, child, { target, backing: base })).virtualSize, 9 * MiB);
    assert.equal(await guestSha256OfFile(child), await guestSha256OfFile(paddedCopy(srcRaw, 9 * MiB)), target);
    assert.deepEqual((await check(child)).findings, [], target);
  }
});

test('convert -B refuses a backing whose size is neither the source\'s nor the source\'s rounded up by --target', async () => {
  const dir = tempDir();
  const srcRaw = join(dir, 'src.raw');
  await rawDisk(srcRaw, 8 * MiB + 1536, 0x5eed, 512);
  const bigRaw = join(dir, 'big.raw');
  await rawDisk(bigRaw, 9 * MiB + 1536, 0xba5e, 512);
  const big = join(dir, 'big.vhdx');
  assert.equal((await convert(bigRaw, big, { target: 'hyperv' })).virtualSize, 10 * MiB);
  const refused = await rejectsWithCode(convert(srcRaw, join(dir, 'a.vhdx'), { target: 'hyperv', backing: big }), 'USAGE');
  assert.match(refused.message, new RegExp(`holds ${10 * MiB} bytes.*needs ${8 * MiB + 1536}, or ${9 * MiB} as --target hyperv rounds it up`));
  // Without --target nothing is rounded: a backing of the rounded size is not the source's.
  const rounded = join(dir, 'rounded.vhdx');
  await convert(srcRaw, rounded, { target: 'hyperv' });
  const plain = await rejectsWithCode(convert(srcRaw, join(dir, 'b.vhdx'), { outputFormat: 'vhdx', backing: rounded }), 'USAGE');
  assert.match(plain.message, new RegExp(`holds ${9 * MiB} bytes.*needs ${8 * MiB + 1536}$`));
  assert.deepEqual(readdirSync(dir).sort(), ['big.raw', 'big.vhdx', 'rounded.vhdx', 'src.raw'], 'no output and no temporary file is left');
});
