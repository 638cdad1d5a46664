// Oracle: VHDs qemu-img 7.2 writes, read by vdisk. Without force_size qemu
// writes creator 'qemu' and a CHS-rounded size (1000 MiB becomes 1,048,707,072
// bytes); with force_size it writes creator 'qem2' and the exact size. vdisk
// sizes 'qemu' images by CHS too, so both readers must agree on every byte.
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { openImage } from '../../src/formats/registry.js';
import { check } from '../../src/ops/check.js';
import { parseSize } from '../../src/util/sizes.js';
import { writePatternDisk } from '../helpers/pattern-disk.js';
import { guestSha256 } from '../helpers/images.js';
import { needTools, qemuInfo, run, sha256OfFile } from '../helpers/oracles.js';
import { tempDir } from '../helpers/tmp.js';

const MiB = 1024 * 1024;

const SOURCES = [
  { name: '300 MiB + 1536 bytes', size: 300 * MiB + 1536, fraction: 0.1 },
  { name: '3 sectors', size: 512 * 3, fraction: 1 },
  // qemu's CHS size is 1,048,707,072 here; dynamic only, to keep the run short.
  { name: '1000 MiB', size: 1000 * MiB, fraction: 0.03, dynamicOnly: true },
];

const VARIANTS = ['subformat=fixed', 'subformat=dynamic', 'subformat=fixed,force_size=on', 'subformat=dynamic,force_size=on'];

/** What vdisk's describe() says of a qemu-made VHD, for the size rule. */
function sizeFacts(info: Record<string, unknown> | undefined): { creator: unknown; rule: unknown; qemu72: unknown } {
  return { creator: info?.creatorApplication, rule: info?.sizeRule, qemu72: info?.qemu72VirtualSize };
}

describe('vdisk reads what qemu-img convert -O vpc writes', () => {
  const dir = tempDir('vdisk-qemu-made-');
  const sources = SOURCES.map((s, i) => ({ ...s, path: join(dir, `src${i}.raw`) }));

  before(async () => {
    for (const [i, s] of sources.entries()) await writePatternDisk(s.path, { size: s.size, blockSize: 64 * 1024, fraction: s.fraction, seed: 0x200 + i });
  });

  for (const [i, src] of sources.entries()) {
    for (const [j, opts] of VARIANTS.entries()) {
      if (src.dynamicOnly && opts.includes('fixed')) continue;
      test(`${src.name}, qemu -o ${opts}`, async (t) => {
        if (!needTools(t, 'qemu-img')) return;
        const vhd = join(dir, `q${i}-${j}.vhd`);
        const back = join(dir, `q${i}-${j}.raw`);
        run('qemu-img', ['convert', '-f', 'raw', '-O', 'vpc', '-o', opts, src.path, vhd]);
        run('qemu-img', ['convert', '-f', 'vpc', '-O', 'raw', vhd, back]);
        const qemuSize = qemuInfo(vhd, 'vpc')['virtual-size'];
        assert.equal(statSync(back).size, qemuSize);
        const forced = opts.includes('force_size=on');
        if (forced) assert.equal(qemuSize, src.size, 'force_size keeps the exact size');
        else assert.ok(qemuSize >= src.size, `CHS rounding never shrinks (${qemuSize} < ${src.size})`);

        const image = await openImage(vhd);
        try {
          assert.equal(image.format, 'vhd');
          assert.equal(image.virtualSize, qemuSize, 'vdisk and qemu agree on the size');
          const d = image.describe();
          assert.equal(d.subformat, opts.includes('fixed') ? 'fixed' : 'dynamic');
          assert.deepEqual(sizeFacts(d.formatSpecific), forced ? { creator: 'qem2', rule: 'current-size', qemu72: qemuSize } : { creator: 'qemu', rule: 'chs', qemu72: qemuSize });
          assert.deepEqual(d.warnings, []);
          assert.equal(await guestSha256(image), await sha256OfFile(back), 'guest view equals qemu-img convert -O raw');
        } finally {
          await image.close();
        }
        const report = await check(vhd);
        assert.equal(report.result, 'clean', JSON.stringify(report.findings));
      });
    }
  }
});

describe('vdisk reads what qemu-img create -f vpc writes', () => {
  const dir = tempDir('vdisk-qemu-made-create-');
  // 1000M: qemu's CHS size is 1,048,707,072. 10G and 127G: CHS below the
  // 65535x16x255 limit. 200G: past it, qemu stores the maximum geometry.
  const CASES = ['1000M', '10G', '127G', '200G'].flatMap((size) =>
    ['fixed', 'dynamic'].flatMap((sub) => [
      { size, opts: `subformat=${sub}` },
      { size, opts: `subformat=${sub},force_size=on` },
    ]),
  );

  for (const c of CASES) {
    test(`qemu-img create -f vpc -o ${c.opts} ${c.size}`, async (t) => {
      if (!needTools(t, 'qemu-img')) return;
      const vhd = join(dir, `${c.size}-${c.opts.replace(/[=,]/g, '_')}.vhd`);
      run('qemu-img', ['create', '-q', '-f', 'vpc', '-o', c.opts, vhd, c.size]);
      const qemuSize = qemuInfo(vhd, 'vpc')['virtual-size'];
      if (c.opts.includes('force_size=on')) assert.equal(qemuSize, parseSize(c.size));
      const image = await openImage(vhd);
      try {
        assert.equal(image.virtualSize, qemuSize, 'vdisk and qemu agree on the size');
        assert.equal(sizeFacts(image.describe().formatSpecific).qemu72, qemuSize, 'vdisk predicts what qemu 7.2 sees');
        // qemu writes the first 4 KiB of a fixed image (zeros); nothing else may be data.
        for await (const e of image.extents()) {
          if (e.kind !== 'data') continue;
          assert.ok(c.opts.includes('fixed') && e.length <= 64 * 1024, `an empty image holds no data (${JSON.stringify(e)})`);
          const buf = new Uint8Array(e.length);
          await image.readAt(buf, e.offset);
          assert.ok(buf.every((b) => b === 0), `zeros in ${JSON.stringify(e)}`);
        }
        // Spot-check reads at the start, the middle and the very end.
        for (const off of [0, Math.floor(qemuSize / 2 / 512) * 512, qemuSize - 4096]) {
          const buf = new Uint8Array(4096).fill(0xaa);
          await image.readAt(buf, off);
          assert.ok(buf.every((b) => b === 0), `zeros at ${off}`);
        }
      } finally {
        await image.close();
      }
      const report = await check(vhd);
      assert.equal(report.result, 'clean', JSON.stringify(report.findings));
    });
  }
});
