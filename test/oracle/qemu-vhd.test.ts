// Oracle: VHDs vdisk writes, read by qemu-img 7.2 (`-f vpc` always: qemu
// probes a fixed VHD as raw). qemu 7.2 sizes images by CHS unless the creator
// is one it trusts ('win ' among them, which vdisk writes), so its virtual
// size must be the exact source size, rounded up to a whole sector.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { DiskImageError } from '../../src/errors.js';
import { openImage } from '../../src/formats/registry.js';
import { convert } from '../../src/ops/convert.js';
import { create } from '../../src/ops/create.js';
import { parseSize } from '../../src/util/sizes.js';
import { writePatternDisk } from '../helpers/pattern-disk.js';
import { needTools, qemuInfo, run } from '../helpers/oracles.js';
import { tempDir } from '../helpers/tmp.js';
import { vdisk } from '../helpers/cli.js';

const MiB = 1024 * 1024;

/** Rounds up to a whole 512-byte sector, as a VHD's size must be. */
function sectors(n: number): number {
  return Math.ceil(n / 512) * 512;
}

/** Source disks: odd sizes, tiny ones, and 1000 MiB where qemu's CHS sizing would give 1,048,707,072. */
const SOURCES = [
  { name: '300 MiB + 1536 bytes', size: 300 * MiB + 1536, fraction: 0.2 },
  { name: '3 sectors', size: 512 * 3, fraction: 1 },
  { name: '1000 bytes (not whole sectors)', size: 1000, fraction: 1 },
  { name: '1000 MiB', size: 1000 * MiB, fraction: 0.05 },
];

/** Output variants; `cli` runs `vdisk convert` instead of the library call. */
const VARIANTS: { name: string; options: Record<string, string>; cli: boolean }[] = [
  { name: 'fixed', options: { subformat: 'fixed' }, cli: true },
  { name: 'dynamic (2M blocks)', options: {}, cli: false },
  { name: 'dynamic block_size=512K', options: { subformat: 'dynamic', block_size: '512K' }, cli: false },
];

/** Asserts `vdisk check IMAGE` exits 0 saying the image is clean. */
function assertCliCheckClean(path: string): void {
  const r = vdisk('check', path);
  assert.equal(r.status, 0, `vdisk check ${path}: ${r.stdout}${r.stderr}`);
  assert.match(r.stdout, /No errors/);
}

describe('qemu-img reads what vdisk convert writes', () => {
  const dir = tempDir('vdisk-qemu-out-');
  const sources = SOURCES.map((s, i) => ({ ...s, path: join(dir, `src${i}.raw`) }));

  before(async () => {
    for (const [i, s] of sources.entries()) await writePatternDisk(s.path, { size: s.size, blockSize: 64 * 1024, fraction: s.fraction, seed: 0x100 + i });
  });

  for (const [i, src] of sources.entries()) {
    for (const [j, v] of VARIANTS.entries()) {
      test(`${src.name} -> VHD ${v.name}`, async (t) => {
        if (!needTools(t, 'qemu-img')) return;
        const out = join(dir, `out${i}-${j}.vhd`);
        if (v.cli) {
          const opts = Object.entries(v.options).map(([k, x]) => `${k}=${x}`).join(',');
          const r = vdisk('convert', '-O', 'vhd', ...(opts ? ['-o', opts] : []), src.path, out);
          assert.equal(r.status, 0, r.stderr);
        } else {
          await convert(src.path, out, { outputFormat: 'vhd', options: v.options });
        }
        assert.equal(qemuInfo(out, 'vpc')['virtual-size'], sectors(src.size), 'qemu-img info virtual-size');
        // Exits 0 only for identical contents (a longer tail must be zero); run() throws otherwise.
        const cmp = run('qemu-img', ['compare', '-f', 'raw', '-F', 'vpc', src.path, out]);
        assert.match(cmp.stdout, /identical/);
        assertCliCheckClean(out);
      });
    }
  }
});

describe('qemu-img reads what vdisk create -f vhd writes', () => {
  const dir = tempDir('vdisk-qemu-create-');
  const CASES = [
    { size: '2000G', subformat: 'dynamic' },
    { size: '2040G', subformat: 'dynamic' },
    { size: '127G', subformat: 'dynamic' },
    { size: '127G', subformat: 'fixed' },
    { size: '128G', subformat: 'dynamic' },
    { size: '128G', subformat: 'fixed' },
    { size: '1000M', subformat: 'dynamic' },
    { size: '1000M', subformat: 'fixed' },
  ];

  for (const c of CASES) {
    test(`create -f vhd -o subformat=${c.subformat} ${c.size}`, async (t) => {
      if (!needTools(t, 'qemu-img')) return;
      const out = join(dir, `${c.size}-${c.subformat}.vhd`);
      const r = vdisk('create', '-f', 'vhd', '-o', `subformat=${c.subformat}`, out, c.size);
      assert.equal(r.status, 0, r.stderr);
      const info = qemuInfo(out, 'vpc');
      assert.equal(info['virtual-size'], parseSize(c.size), 'qemu-img info virtual-size');
      const image = await openImage(out);
      try {
        assert.equal(image.virtualSize, parseSize(c.size));
        assert.equal(image.describe().subformat, c.subformat);
        assert.deepEqual(image.describe().warnings, [], 'no warning that qemu 7.2 would see another size');
        for await (const e of image.extents()) assert.notEqual(e.kind, 'data', `a new image holds no data (${JSON.stringify(e)})`);
      } finally {
        await image.close();
      }
      // qemu maps a fixed VHD as data that reads as zeros, a dynamic one as unallocated zeros.
      const map = JSON.parse(run('qemu-img', ['map', '-f', 'vpc', '--output=json', out]).stdout) as { zero: boolean; length: number }[];
      assert.deepEqual(map.filter((m) => !m.zero), [], 'qemu-img map sees only zeros');
      assert.equal(map.reduce((n, m) => n + m.length, 0), parseSize(c.size), 'qemu-img map covers the whole disk');
      assertCliCheckClean(out);
    });
  }

  test('2041G is refused, as qemu-img refuses it, and no file is left', async (t) => {
    const out = join(dir, '2041G.vhd');
    const r = vdisk('create', '-f', 'vhd', out, '2041G');
    assert.equal(r.status, 1);
    assert.match(r.stderr, /\(OUT_OF_RANGE\)/);
    assert.equal(existsSync(out), false, 'no partial file');
    await assert.rejects(create(out, { format: 'vhd', size: parseSize('2041G') }), (e: unknown) => e instanceof DiskImageError && e.code === 'OUT_OF_RANGE');
    assert.equal(existsSync(out), false, 'no partial file (library)');
    // One sector past the limit is refused too.
    const justOver = parseSize('2040G') + 512;
    await assert.rejects(create(out, { format: 'vhd', size: justOver, options: { subformat: 'fixed' } }), (e: unknown) => e instanceof DiskImageError && e.code === 'OUT_OF_RANGE');
    if (!needTools(t, 'qemu-img')) return;
    const q = run('qemu-img', ['create', '-f', 'vpc', '-o', 'force_size=on', join(dir, 'q2041G.vhd'), '2041G'], true);
    assert.notEqual(q.status, 0, 'qemu-img refuses 2041G as well');
  });
});
