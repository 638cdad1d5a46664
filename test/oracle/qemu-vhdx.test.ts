// Oracle: qemu-img 7.2 and VHDX. qemu checks, compares and sizes the dynamic
// and fixed VHDX vdisk writes (512-byte logical sectors); vdisk reads the VHDX
// qemu writes byte for byte as qemu does. qemu 7.2 refuses VHDX with 4096-byte
// logical sectors and differencing VHDX: "Could not open 'x.vhdx': Operation
// not supported" (exit 1), for info, check and convert alike. Conversions in
// every direction between raw, VHD and VHDX keep the guest view.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { createImage, openImage } from '../../src/formats/registry.js';
import { info } from '../../src/ops/info.js';
import { check } from '../../src/ops/check.js';
import { convert } from '../../src/ops/convert.js';
import { snapshot } from '../../src/ops/snapshot.js';
import { writePatternDisk } from '../helpers/pattern-disk.js';
import { parseSize } from '../../src/util/sizes.js';
import { buildChain, viewOf } from '../helpers/chain.js';
import { vdisk } from '../helpers/cli.js';
import { extentsOf, guestSha256, guestSha256OfFile } from '../helpers/images.js';
import { needTools, qemuInfo, run, sha256OfFile } from '../helpers/oracles.js';
import { tempDir } from '../helpers/tmp.js';
import { writeFileSync } from 'node:fs';

const MiB = 1024 * 1024;

/** qemu's -f name of each format. */
const QEMU_NAME: Record<string, string> = { raw: 'raw', vhd: 'vpc', vhdx: 'vhdx' };

/**
 * Asserts qemu-io reads zeros in the first, a middle and the last MiB of a
 * VHDX (qemu's vhdx driver reports no block status, so qemu-img map and
 * compare would read a whole 100 GiB disk).
 */
function assertQemuIoZeros(path: string, size: number): void {
  const at = [0, Math.floor(size / 2 / MiB) * MiB, size - MiB];
  const r = run('qemu-io', ['-f', 'vhdx', '-r', ...at.flatMap((o) => ['-c', `read -P 0 ${o} 1M`]), path], true);
  assert.doesNotMatch(r.stdout + r.stderr, /fail|error/i, r.stdout + r.stderr);
  assert.equal((r.stdout.match(/read 1048576\/1048576 bytes/g) ?? []).length, 3, r.stdout);
}

/** Asserts `vdisk check IMAGE` exits 0. */
function assertCliCheckClean(path: string): void {
  const r = vdisk('check', path);
  assert.equal(r.status, 0, `vdisk check ${path}: ${r.stdout}${r.stderr}`);
}

describe('qemu-img reads the VHDX vdisk writes', () => {
  const dir = tempDir('vdisk-qemu-vhdx-out-');
  /** Sizes that are not a multiple of the block size (a partial last block), and a tiny disk. */
  const SOURCES = [
    { name: '20 MiB + 1536 bytes', size: 20 * MiB + 1536, fraction: 0.3 },
    { name: '100 MiB + 4096 bytes', size: 100 * MiB + 4096, fraction: 0.1 },
    { name: '3 sectors', size: 1536, fraction: 1 },
  ];
  const VARIANTS: { name: string; options: Record<string, string>; cli: boolean }[] = [
    { name: 'dynamic, 1 MiB blocks', options: { block_size: '1M' }, cli: false },
    { name: 'fixed, 1 MiB blocks', options: { subformat: 'fixed', block_size: '1M' }, cli: true },
    { name: 'dynamic, 32 MiB blocks', options: { subformat: 'dynamic', block_size: '32M' }, cli: true },
    { name: 'fixed, 32 MiB blocks', options: { subformat: 'fixed' }, cli: false },
  ];
  const sources = SOURCES.map((s, i) => ({ ...s, path: join(dir, `src${i}.raw`) }));

  before(async () => {
    for (const [i, s] of sources.entries()) await writePatternDisk(s.path, { size: s.size, blockSize: 64 * 1024, fraction: s.fraction, seed: 0xb00 + i });
  });

  for (const [i, src] of sources.entries()) {
    for (const [j, v] of VARIANTS.entries()) {
      test(`${src.name} -> VHDX ${v.name}`, async (t) => {
        if (!needTools(t, 'qemu-img')) return;
        const out = join(dir, `out${i}-${j}.vhdx`);
        if (v.cli) {
          const opts = Object.entries(v.options).map(([k, x]) => `${k}=${x}`).join(',');
          const r = vdisk('convert', '-O', 'vhdx', '-o', opts, src.path, out);
          assert.equal(r.status, 0, r.stderr);
        } else {
          await convert(src.path, out, { outputFormat: 'vhdx', options: v.options });
        }
        const chk = run('qemu-img', ['check', '-f', 'vhdx', out], true);
        assert.equal(chk.status, 0, `qemu-img check: ${chk.stdout}${chk.stderr}`);
        assert.match(chk.stdout, /No errors/);
        assert.equal(qemuInfo(out, 'vhdx')['virtual-size'], src.size, 'qemu-img info virtual-size');
        const cmp = run('qemu-img', ['compare', '-f', 'raw', '-F', 'vhdx', src.path, out]);
        assert.match(cmp.stdout, /identical/);
        assertCliCheckClean(out);
      });
    }
  }

  test('vdisk create -f vhdx 100G, 2T and a fixed 10G: exact size, no errors, zeros where qemu-io reads', async (t) => {
    if (!needTools(t, 'qemu-img', 'qemu-io')) return;
    for (const [size, sub] of [['100G', 'dynamic'], ['2T', 'dynamic'], ['10G', 'fixed']] as const) {
      const out = join(dir, `create-${size}-${sub}.vhdx`);
      const r = vdisk('create', '-f', 'vhdx', '-o', `subformat=${sub}`, out, size);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(qemuInfo(out, 'vhdx')['virtual-size'], parseSize(size));
      assert.equal(run('qemu-img', ['check', '-f', 'vhdx', out], true).status, 0);
      assertQemuIoZeros(out, parseSize(size));
    }
  });
});

describe('vdisk reads the VHDX qemu-img writes', () => {
  const dir = tempDir('vdisk-qemu-made-vhdx-');
  const src = join(dir, 'src.raw');
  const SIZE = 40 * MiB + 3584;

  before(async () => {
    await writePatternDisk(src, { size: SIZE, blockSize: 64 * 1024, fraction: 0.3, seed: 0xc01 });
  });

  // block_state_zero=off: every block of a fixed VHDX FULLY_PRESENT, the last one too, though the file ends where the disk does, inside it.
  for (const sub of ['dynamic', 'fixed', 'fixed,block_state_zero=off']) {
    for (const bs of ['1M', '8M']) {
      test(`qemu-img convert -O vhdx -o subformat=${sub},block_size=${bs}`, async (t) => {
        if (!needTools(t, 'qemu-img')) return;
        const name = `q-${sub.replace(/[,=]/g, '-')}-${bs}`;
        const q = join(dir, `${name}.vhdx`);
        const back = join(dir, `${name}.raw`);
        run('qemu-img', ['convert', '-f', 'raw', '-O', 'vhdx', '-o', `subformat=${sub},block_size=${bs}`, src, q]);
        run('qemu-img', ['convert', '-f', 'vhdx', '-O', 'raw', q, back]);
        const qemuSize = qemuInfo(q, 'vhdx')['virtual-size'];
        const image = await openImage(q);
        try {
          assert.equal(image.format, 'vhdx');
          assert.equal(image.virtualSize, qemuSize);
          assert.equal(image.grain, parseSize(bs));
          const fs = image.describe().formatSpecific!;
          assert.match(String(fs.creator), /QEMU/);
          assert.equal(fs.leaveBlocksAllocated, sub !== 'dynamic');
          assert.equal(image.describe().subformat, sub.split(',')[0]);
          assert.equal(await guestSha256(image), await sha256OfFile(back), 'vdisk reads what qemu reads');
          assert.equal(await guestSha256(image), await sha256OfFile(src));
          assert.ok((await extentsOf(image)).some((e) => e.kind === 'data'));
        } finally {
          await image.close();
        }
        assert.equal((await check(q)).result, 'clean');
      });
    }
  }

  test('fixed or dynamic as made: qemu-img create (fixed blocks all PAYLOAD_BLOCK_ZERO) and vdisk create; check --target hyperv tells', async (t) => {
    if (!needTools(t, 'qemu-img')) return;
    for (const sub of ['fixed', 'dynamic']) {
      const q = join(dir, `qc-${sub}.vhdx`);
      run('qemu-img', ['create', '-q', '-f', 'vhdx', '-o', `subformat=${sub}`, q, '64M']);
      const v = join(dir, `vc-${sub}.vhdx`);
      await (await createImage(v, 'vhdx', { virtualSize: 64 * MiB, options: { subformat: sub } })).close();
      for (const path of [q, v]) {
        const [described] = await info(path);
        assert.equal(described!.subformat, sub, path);
        const report = await check(path, { target: 'hyperv' });
        assert.equal(report.target!.ok, sub === 'dynamic', `${path}: ${JSON.stringify(report.target!.rules.filter((r) => !r.ok))}`);
      }
    }
  });

  test('qemu-img create -f vhdx 100G: exact size, nothing but zeros; vdisk converts it to a VHDX qemu reads as zeros', async (t) => {
    if (!needTools(t, 'qemu-img', 'qemu-io')) return;
    const q = join(dir, 'q100G.vhdx');
    run('qemu-img', ['create', '-q', '-f', 'vhdx', q, '100G']);
    const image = await openImage(q);
    try {
      assert.equal(image.virtualSize, 100 * 1024 * MiB);
      const ext = await extentsOf(image);
      assert.deepEqual(ext.filter((e) => e.kind === 'data'), [], 'no data');
      assert.equal(ext.reduce((n, e) => n + e.length, 0), image.virtualSize);
      for (const at of [0, 50 * 1024 * MiB + 12345, image.virtualSize - MiB]) {
        const buf = new Uint8Array(MiB).fill(1);
        await image.readAt(buf, at);
        assert.ok(buf.every((x) => x === 0), `zeros at ${at}`);
      }
    } finally {
      await image.close();
    }
    const ours = join(dir, 'ours100G.vhdx');
    await convert(q, ours, { outputFormat: 'vhdx', options: {} });
    assert.equal(qemuInfo(ours, 'vhdx')['virtual-size'], 100 * 1024 * MiB);
    assertQemuIoZeros(ours, 100 * 1024 * MiB);
  });
});

describe('what qemu-img 7.2 refuses', () => {
  test('a VHDX with 4096-byte logical sectors, and a differencing VHDX: "Operation not supported"', async (t) => {
    if (!needTools(t, 'qemu-img')) return;
    const dir = tempDir('vdisk-qemu-refuses-');
    const s4k = join(dir, 's4k.vhdx');
    const base = join(dir, 'base.vhdx');
    const child = join(dir, 'child.vhdx');
    assert.equal(vdisk('create', '-f', 'vhdx', '-o', 'logical_sector_size=4096', s4k, '64M').status, 0);
    assert.equal(vdisk('create', '-f', 'vhdx', base, '64M').status, 0);
    await snapshot(base, child);
    for (const path of [s4k, child]) {
      for (const args of [['info', '-f', 'vhdx', path], ['check', '-f', 'vhdx', path], ['convert', '-f', 'vhdx', '-O', 'raw', path, join(dir, 'x.raw')]]) {
        const r = run('qemu-img', args, true);
        assert.notEqual(r.status, 0, `qemu-img ${args.join(' ')} should refuse`);
        assert.match(r.stderr, /Operation not supported/, `qemu-img ${args[0]}: ${r.stderr}`);
      }
    }
    assert.equal(run('qemu-img', ['info', '-f', 'vhdx', base]).status, 0, 'the 512-byte base itself is fine');
  });
});

describe('convert in every direction between raw, VHD and VHDX', () => {
  const FORMATS = ['raw', 'vhd', 'vhdx'] as const;
  const dir = tempDir('vdisk-qemu-directions-');
  const src = join(dir, 'src.raw');
  const SIZE = 12 * MiB + 3072;
  const inputs: Record<string, string> = {};

  before(async () => {
    await writePatternDisk(src, { size: SIZE, blockSize: 64 * 1024, fraction: 0.4, seed: 0xd01 });
    inputs.raw = src;
    for (const f of ['vhd', 'vhdx'] as const) {
      inputs[f] = join(dir, `src.${f}`);
      await convert(src, inputs[f], { outputFormat: f, options: f === 'vhdx' ? { block_size: '1M' } : {} });
    }
  });

  for (const from of FORMATS) {
    for (const to of FORMATS) {
      if (from === to) continue;
      test(`${from} -> ${to} -> ${from}`, async (t) => {
        const want = await sha256OfFile(src);
        const out = join(dir, `${from}-to.${to}`);
        const back = join(dir, `${from}-${to}-back.${from}`);
        await convert(inputs[from]!, out, { outputFormat: to, options: {} });
        await convert(out, back, { outputFormat: from, options: {} });
        assert.equal(await guestSha256OfFile(out), want, `${to} view`);
        assert.equal(await guestSha256OfFile(back), want, `${from} view after the round trip`);
        if (!needTools(t, 'qemu-img')) return;
        for (const [path, fmt] of [[out, to], [back, from]] as const) run('qemu-img', ['compare', '-f', 'raw', '-F', QEMU_NAME[fmt]!, src, path]);
      });
    }
  }

  test('a VHDX chain flattened to raw, VHD and VHDX: qemu-img finds each identical to vdisk view', async (t) => {
    const chainDir = tempDir('vdisk-qemu-flatten-');
    const files = await buildChain(chainDir, 8 * MiB, [[[0, 3 * MiB, 1]], [[MiB + 100, 5000, 2], [5 * MiB, MiB, 0]], [[7 * MiB - 512, 1024, 3]]], 'vhdx');
    const top = files[files.length - 1]!;
    const expected = join(chainDir, 'expected.raw');
    writeFileSync(expected, await viewOf(top));
    for (const f of FORMATS) {
      const out = join(chainDir, `flat.${f}`);
      await convert(top, out, { outputFormat: f, options: {} });
      assert.ok((await viewOf(out)).equals(await viewOf(top)), `flat ${f}`);
    }
    if (!needTools(t, 'qemu-img')) return;
    for (const f of FORMATS) run('qemu-img', ['compare', '-f', 'raw', '-F', QEMU_NAME[f]!, expected, join(chainDir, `flat.${f}`)]);
  });
});
