// Oracle: VHDXs vdisk writes, read by libvhdi 20210425 (vhdiinfo, and
// vhdimount's FUSE view of every layer of a chain, base first). libvhdi checks
// a VHDX child's parent_linkage against the parent's DataWriteGuid (its
// "identifier"), so vhdimount also proves the chain's linkage.
//
// libvhdi finds a VHDX parent by the locator's absolute_win32_path only: the
// name after its last backslash, in the directory of the child *as given*.
// vdisk writes a POSIX absolute path there (docs/formats/vhdx.md), which
// libvhdi joins whole to that directory, so these tests run vhdimount in the
// child's directory on its bare name (the last describe shows the problem).
import assert from 'node:assert/strict';
import { basename, dirname, join } from 'node:path';
import { before, describe, test } from 'node:test';
import { openImage } from '../../src/formats/registry.js';
import type { WritableDiskImage } from '../../src/formats/types.js';
import { convert } from '../../src/ops/convert.js';
import { fillPattern, writePatternDisk } from '../helpers/pattern-disk.js';
import { viewOf } from '../helpers/chain.js';
import { vdisk } from '../helpers/cli.js';
import { guestSha256OfFile } from '../helpers/images.js';
import { needTools, sha256OfFile, vhdiinfo, withVhdimount } from '../helpers/oracles.js';
import { tempDir } from '../helpers/tmp.js';
import { replaceLocator } from '../helpers/vhdx.js';
import { readFile } from 'node:fs/promises';

const MiB = 1024 * 1024;
const TOOLS = ['vhdiinfo', 'vhdimount', 'fusermount3', '/dev/fuse'];

/** Mounts `image` from its own directory by its bare name (see the note at the top). */
function mountInPlace<T>(image: string, fn: (guest: string, layers: string[]) => Promise<T>): Promise<T> {
  return withVhdimount(basename(image), fn, dirname(image));
}

/** Asserts vhdimount's view of every layer of `top`'s chain equals vdisk's view of the same files (base first). */
async function assertLayers(top: string, files: string[]): Promise<void> {
  const ours = await Promise.all(files.map((f) => viewOf(f)));
  await mountInPlace(top, async (_guest, layers) => {
    assert.equal(layers.length, files.length, 'vhdimount exposes one file per chain layer');
    for (const [i, layer] of layers.entries()) assert.ok(ours[i]!.equals(await readFile(layer)), `layer ${i + 1} (${basename(files[i]!)})`);
  });
}

/** Writes pattern data (seed) at each [offset, length) of `path` through the library. */
async function writeLayer(path: string, writes: [number, number][], seed: number): Promise<void> {
  const w = (await openImage(path, { writable: true })) as WritableDiskImage;
  try {
    for (const [offset, length] of writes) {
      const data = new Uint8Array(length);
      fillPattern(data, offset, seed);
      await w.writeAt(data, offset);
    }
    await w.flush();
  } finally {
    await w.close();
  }
}

function snapshotCli(base: string, child: string): void {
  const r = vdisk('snapshot', base, child);
  assert.equal(r.status, 0, r.stderr);
}

async function dataWriteGuid(path: string): Promise<string> {
  const image = await openImage(path, { ignoreParentUuid: true, onWarning: () => undefined });
  try {
    return image.describe().formatSpecific!.dataWriteGuid as string;
  } finally {
    await image.close();
  }
}

describe('libvhdi reads fixed and dynamic VHDXs vdisk writes', () => {
  const dir = tempDir('vdisk-libvhdi-vhdx-');
  const SOURCES = [
    { name: '20 MiB + 4096 bytes', size: 20 * MiB + 4096 },
    { name: '3 sectors of 4 KiB', size: 12288 },
  ];
  const VARIANTS: { name: string; options: Record<string, string>; diskType: string; sector: number }[] = [
    { name: 'dynamic, 1 MiB blocks', options: { block_size: '1M' }, diskType: 'Dynamic', sector: 512 },
    { name: 'fixed, 1 MiB blocks', options: { subformat: 'fixed', block_size: '1M' }, diskType: 'Fixed', sector: 512 },
    { name: 'dynamic, 32 MiB blocks', options: {}, diskType: 'Dynamic', sector: 512 },
    { name: 'dynamic, 4096-byte sectors', options: { block_size: '1M', logical_sector_size: '4096' }, diskType: 'Dynamic', sector: 4096 },
    { name: 'fixed, 32 MiB blocks, 4096-byte sectors', options: { subformat: 'fixed', logical_sector_size: '4096' }, diskType: 'Fixed', sector: 4096 },
  ];
  const sources = SOURCES.map((s, i) => ({ ...s, path: join(dir, `src${i}.raw`) }));

  before(async () => {
    for (const [i, s] of sources.entries()) await writePatternDisk(s.path, { size: s.size, blockSize: 32 * 1024, fraction: 0.4, seed: 0x800 + i });
  });

  for (const [i, src] of sources.entries()) {
    for (const [j, v] of VARIANTS.entries()) {
      test(`${src.name} as VHDX ${v.name}`, async (t) => {
        if (!needTools(t, ...TOOLS)) return;
        const out = join(dir, `out${i}-${j}.vhdx`);
        await convert(src.path, out, { outputFormat: 'vhdx', options: v.options });
        const info = vhdiinfo(out);
        assert.equal(info.mediaSize, src.size, 'vhdiinfo media size');
        assert.match(info.text, /Format\s*:\s*VHDX/);
        assert.match(info.text, new RegExp(`Disk type\\s*:\\s*${v.diskType}`));
        assert.match(info.text, new RegExp(`Bytes per sector\\s*:\\s*${v.sector} bytes`));
        assert.match(info.text, new RegExp(`Identifier\\s*:\\s*${await dataWriteGuid(out)}`), 'libvhdi names the DataWriteGuid as the identifier');
        const ours = await guestSha256OfFile(out);
        assert.equal(ours, await sha256OfFile(src.path), 'vdisk reads back the source');
        await withVhdimount(out, async (guest, layers) => {
          assert.equal(layers.length, 1);
          assert.equal(await sha256OfFile(guest), ours, 'vhdimount guest view');
        });
      });
    }
  }
});

describe('libvhdi reads differencing VHDX chains vdisk makes', () => {
  const size = 6 * MiB + 4096;
  /** Writes: a 4 KiB page, a run across a block boundary, byte-granular pieces, the disk's last bytes. */
  const MID: [number, number][] = [[8192, 4096], [2 * MiB - 64 * 1024, 128 * 1024], [4 * MiB + 100, 10]];
  const TOP: [number, number][] = [[12 * 1024 - 1024, 1024], [2 * MiB - 700, 1400], [5 * MiB + 1, 4095], [size - 3, 3]];

  /** base.vhdx from a pattern disk, mid and top by `vdisk snapshot`, each written through the library. */
  async function makeChain(dir: string, options: Record<string, string>): Promise<[string, string, string]> {
    const src = join(dir, 'src.raw');
    const files = ['base.vhdx', 'mid.vhdx', 'top.vhdx'].map((n) => join(dir, n)) as [string, string, string];
    await writePatternDisk(src, { size, blockSize: 64 * 1024, fraction: 0.5, seed: 0x901 });
    await convert(src, files[0], { outputFormat: 'vhdx', options });
    snapshotCli(files[0], files[1]);
    await writeLayer(files[1], MID, 0x902);
    snapshotCli(files[1], files[2]);
    await writeLayer(files[2], TOP, 0x903);
    return files;
  }

  for (const [name, options] of [['512-byte sectors, 1 MiB blocks', { block_size: '1M' }], ['4096-byte sectors, 32 MiB blocks', { logical_sector_size: '4096' }]] as const) {
    test(`${name}: vhdiinfo names the parent; vhdimount agrees with vdisk layer by layer`, async (t) => {
      if (!needTools(t, ...TOOLS)) return;
      const files = await makeChain(tempDir('vdisk-libvhdi-vhdx-chain-'), options);
      const info = vhdiinfo(files[1]);
      assert.equal(info.mediaSize, size);
      assert.match(info.text, /Disk type\s*:\s*Differential/);
      assert.match(info.text, new RegExp(`Parent identifier\\s*:\\s*${await dataWriteGuid(files[0])}`), 'parent_linkage is the parent DataWriteGuid');
      await assertLayers(files[2], files);
      await assertLayers(files[1], files.slice(0, 2));
    });
  }

  test('after vdisk commit (child kept) and vdisk commit -b --drop, libvhdi still follows the links', async (t) => {
    if (!needTools(t, ...TOOLS)) return;
    const [base, mid, top] = await makeChain(tempDir('vdisk-libvhdi-vhdx-commit-'), { block_size: '1M' });
    const expected = await viewOf(top);
    const r = vdisk('commit', top);
    assert.equal(r.status, 0, r.stderr);
    assert.match(vhdiinfo(top).text, new RegExp(`Parent identifier\\s*:\\s*${await dataWriteGuid(mid)}`), "the kept child records the parent's new DataWriteGuid");
    await assertLayers(top, [base, mid, top]);
    const r2 = vdisk('commit', '-b', base, '--drop', top);
    assert.equal(r2.status, 0, r2.stderr);
    await withVhdimount(base, async (guest) => assert.ok(expected.equals(await readFile(guest))));
  });

  test('a rebased child (vdisk rebase -b base top): vhdimount reads it over the new parent', async (t) => {
    if (!needTools(t, ...TOOLS)) return;
    const [base, , top] = await makeChain(tempDir('vdisk-libvhdi-vhdx-rebase-'), { block_size: '1M' });
    const expected = await viewOf(top);
    const r = vdisk('rebase', '-b', base, top);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(expected.equals(await viewOf(top)));
    await assertLayers(top, [base, top]);
  });
});

// Regression: absolute_win32_path was once written as a POSIX path ("/tmp/x/base.vhdx").
// libvhdi (vhdimount) takes a VHDX parent's file name from absolute_win32_path after its last
// backslash and looks for it beside the child, so it looked for "/tmp/x/tmp/x/base.vhdx".
describe('libvhdi finds the parent of a child given by its full path', () => {
  test('vhdimount /dir/child.vhdx mounts a chain made by vdisk snapshot', async (t) => {
    if (!needTools(t, ...TOOLS)) return;
    const dir = tempDir('vdisk-libvhdi-vhdx-abs-');
    const base = join(dir, 'base.vhdx');
    const child = join(dir, 'child.vhdx');
    await writePatternDisk(join(dir, 'src.raw'), { size: 2 * MiB, blockSize: 64 * 1024, fraction: 0.5, seed: 0xa01 });
    await convert(join(dir, 'src.raw'), base, { outputFormat: 'vhdx', options: { block_size: '1M' } });
    snapshotCli(base, child);
    await writeLayer(child, [[4096, 4096]], 0xa02);
    const expected = await viewOf(child);

    const win32 = join(dir, 'win32.vhdx');
    snapshotCli(base, win32);
    await writeLayer(win32, [[4096, 4096]], 0xa02);
    replaceLocator(win32, [['parent_linkage', `{${await dataWriteGuid(base)}}`], ['relative_path', '.\\base.vhdx'], ['absolute_win32_path', 'C:\\VMs\\base.vhdx']]);
    await withVhdimount(win32, async (guest, layers) => {
      assert.equal(layers.length, 2, 'control: a Win32 absolute path mounts');
      assert.ok(expected.equals(await readFile(guest)));
    });

    await withVhdimount(child, async (guest) => assert.ok(expected.equals(await readFile(guest))));
  });
});
