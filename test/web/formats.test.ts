import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildChain } from '../helpers/chain.js';
import { vdiskIn } from '../helpers/cli.js';
import { needTools, run } from '../helpers/oracles.js';
import { tempDir } from '../helpers/tmp.js';
import { WebSession, assertMapShows, assertMatchesCli, convertTo, pick } from '../helpers/web-page.js';

/**
 * VMDK, qcow2 and VDI in the web page (dist/web) in chromium, made by vdisk
 * and qemu-img: a streamOptimized VMDK (zlib grains), qcow2s with
 * compressed clusters (raw deflate, zstd), a differencing VDI picked with its
 * parent, split and flat VMDKs picked as descriptor and extents. Each shows
 * what `vdisk info --chain`, `check` and `check --target` say, and its map
 * where its data is. The compressed ones, converted for Azure, are what
 * qemu-img reads in the source.
 */

const MiB = 1024 * 1024;
const SIZE = 8 * MiB;

/** The data the test disks hold, [offset, length]: whole 1 MiB blocks, so every format's block or grain boundary falls between them. */
const DATA: [number, number][] = [
  [0, MiB],
  [5 * MiB, MiB],
];

describe('web page in chromium: VMDK, qcow2 and VDI', () => {
  const web = new WebSession();
  before(() => web.serve());
  after(() => web.close());

  /** Converts the picked `name` (in `dir`) for Azure and has qemu-img compare the download with it (read as `format`). */
  async function convertAndCompare(dir: string, name: string, format: string): Promise<void> {
    const out = join(dir, 'out.vhd');
    assert.equal(await convertTo(web.page, 'target:azure', out), name.replace(/\.[^.]*$/, '-azure.vhd'));
    const compare = run('qemu-img', ['compare', '-f', format, '-F', 'vpc', join(dir, name), out], true);
    assert.equal(compare.status, 0, `qemu-img compare: ${compare.stdout}${compare.stderr}`);
  }

  /** A raw disk of SIZE bytes holding DATA, in a new directory: text that names its own offset, so it compresses (qemu-img -c stores a cluster that does not shrink as it is) and no sector is zero. */
  function rawSource(): string {
    const dir = tempDir();
    const disk = Buffer.alloc(SIZE);
    for (const [offset, length] of DATA) for (let at = offset; at < offset + length; at += 32) disk.write(`sector ${Math.floor(at / 512)} byte ${at}`.padEnd(31, '.') + '\n', at, 'latin1');
    writeFileSync(join(dir, 'source.raw'), disk);
    return dir;
  }

  it('a streamOptimized VMDK written by vdisk shows what vdisk says, its map where the grains are; converted for Azure, qemu-img finds it identical', async (t) => {
    if (!(await web.open(t)) || !needTools(t, 'qemu-img')) return;
    const dir = rawSource();
    const made = vdiskIn(dir, 'convert', '-O', 'vmdk', '-o', 'subformat=streamOptimized', 'source.raw', 'stream.vmdk');
    assert.equal(made.status, 0, made.stderr);
    assertMatchesCli(await pick(web.page, [join(dir, 'stream.vmdk')]), dir, 'stream.vmdk');
    await assertMapShows(web.page, SIZE, DATA.map(([o, l]) => [o, l, 0]));
    await convertAndCompare(dir, 'stream.vmdk', 'vmdk');
  });

  for (const [codec, name] of [['zlib', 'packed.qcow2'], ['zstd', 'zstd.qcow2']] as const) {
    it(`a qcow2 with ${codec}-compressed clusters (qemu-img -c -o compression_type=${codec}) shows what vdisk says; converted for Azure, qemu-img finds it identical`, async (t) => {
      if (!(await web.open(t)) || !needTools(t, 'qemu-img')) return;
      const dir = rawSource();
      run('qemu-img', ['convert', '-c', '-f', 'raw', '-O', 'qcow2', '-o', `compression_type=${codec}`, join(dir, 'source.raw'), join(dir, name)]);
      assertMatchesCli(await pick(web.page, [join(dir, name)]), dir, name);
      await assertMapShows(web.page, SIZE, DATA.map(([o, l]) => [o, l, 0]));
      await convertAndCompare(dir, name, 'qcow2');
    });
  }

  it('a differencing VDI picked with its parent finds it by UUID and shows what vdisk says', async (t) => {
    if (!(await web.open(t))) return;
    const dir = tempDir();
    await buildChain(dir, SIZE, [[[0, MiB, 1]], [[5 * MiB, MiB, 2]]], 'vdi');
    const shown = await pick(web.page, [join(dir, 'base.vdi'), join(dir, 'layer1.vdi')]);
    assert.equal(shown.layers.length, 2);
    assertMatchesCli(shown, dir, 'layer1.vdi');
    await assertMapShows(web.page, SIZE, [
      [0, MiB, 1],
      [5 * MiB, MiB, 0],
    ]);
  });

  it('split and flat VMDKs picked as descriptor and extents read their extents among the picked files only; a descriptor naming ../ is CORRUPT', async (t) => {
    if (!(await web.open(t)) || !needTools(t, 'qemu-img')) return;
    const dir = rawSource();
    for (const subformat of ['twoGbMaxExtentSparse', 'monolithicFlat']) {
      const name = `${subformat}.vmdk`;
      run('qemu-img', ['convert', '-f', 'raw', '-O', 'vmdk', '-o', `subformat=${subformat}`, join(dir, 'source.raw'), join(dir, name)]);
      const extent = subformat === 'monolithicFlat' ? `${subformat}-flat.vmdk` : `${subformat}-s001.vmdk`;
      assertMatchesCli(await pick(web.page, [join(dir, extent), join(dir, name)]), dir, name);
      const alone = (await pick(web.page, [join(dir, name)])).error ?? '';
      assert.equal(alone, `vdisk: ${name}: extent file '${extent}' is not among the picked files; pick it too (IO)`);
    }
    const descriptor = '# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType="monolithicFlat"\n\nRW 16384 FLAT "../monolithicFlat-flat.vmdk" 0\n';
    writeFileSync(join(dir, 'climbing.vmdk'), descriptor);
    const cli = vdiskIn(dir, 'info', 'climbing.vmdk');
    assert.match(cli.stderr, /climbs out .*\(CORRUPT\)/);
    const shown = await pick(web.page, [join(dir, 'climbing.vmdk'), join(dir, 'monolithicFlat-flat.vmdk')]);
    assert.equal(shown.error, cli.stderr.trim(), 'a descriptor that climbs out is refused as the CLI refuses it, even when the file it names is picked');
  });
});
