/**
 * A source's sector size through convert (ops/output-plan.ts): kept where
 * the output format records one, warned about where it cannot, and a
 * different `-o` choice warned about; 512-byte sources convert silently.
 * A source larger than a target takes is refused before a byte is written.
 */
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createImage, openImage } from '../../src/formats/registry.js';
import { compare } from '../../src/ops/compare.js';
import { convert, type ConvertOptions } from '../../src/ops/convert.js';
import { rejectsWithCode } from '../helpers/assert-error.js';
import { tempDir } from '../helpers/tmp.js';

const dir = tempDir('vdisk-output-plan-');
const SIZE = 8 * 1024 * 1024;

/** A dynamic VHDX of `sector`-byte logical sectors with a little data at both ends. */
async function source(name: string, sector: number): Promise<string> {
  const path = join(dir, name);
  const image = await createImage(path, 'vhdx', { virtualSize: SIZE, options: { logical_sector_size: String(sector) } });
  await image.writeAt(new Uint8Array(4096).fill(0x4b), 0);
  await image.writeAt(new Uint8Array(4096).fill(0x4c), SIZE - 4096);
  await image.flush();
  await image.close();
  return path;
}

/** Converts `src` to `name` and returns the warnings and the output's logical sector size. */
async function run(src: string, name: string, opts: Omit<ConvertOptions, 'onWarning'>): Promise<{ warnings: string[]; sector: number | undefined }> {
  const warnings: string[] = [];
  const dst = join(dir, name);
  await convert(src, dst, { ...opts, onWarning: (w) => warnings.push(w) });
  assert.equal((await compare(src, dst)).identical, true);
  const out = await openImage(dst);
  try {
    return { warnings, sector: out.describe().logicalSectorSize };
  } finally {
    await out.close();
  }
}

describe('the source sector size in convert', () => {
  it('a 4096-byte-sector VHDX stays 4096 in a VHDX, with a note', async () => {
    const src = await source('k4.vhdx', 4096);
    const { warnings, sector } = await run(src, 'k4-out.vhdx', { outputFormat: 'vhdx' });
    assert.equal(sector, 4096);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /4096-byte sectors; the vhdx output keeps them/);
  });

  it('--target hyperv keeps them too, and says that qemu refuses them', async () => {
    const { warnings, sector } = await run(await source('k4-hv.vhdx', 4096), 'k4-hv-out.vhdx', { target: 'hyperv' });
    assert.equal(sector, 4096);
    assert.match(warnings.join('\n'), /--target hyperv prefers 512; qemu and older guests refuse 4096-byte sectors/);
  });

  it('a format that records no sector size gets the source converted, and a warning naming what to do', async () => {
    const { warnings, sector } = await run(await source('k4-q.vhdx', 4096), 'k4.qcow2', { outputFormat: 'qcow2' });
    assert.equal(sector, undefined);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /4096-byte sectors, which qcow2 cannot record: give the VM 4096-byte logical sectors.*vhdx/);
  });

  it('-o logical_sector_size different from the source is done, with a warning', async () => {
    const { warnings, sector } = await run(await source('k4-o.vhdx', 4096), 'k4-512.vhdx', { outputFormat: 'vhdx', options: { logical_sector_size: '512' } });
    assert.equal(sector, 512);
    assert.match(warnings.join('\n'), /4096-byte sectors and the output 512-byte ones \(-o logical_sector_size\): .*not line up/);
  });

  it('a 512-byte-sector source converts to any format without a word', async () => {
    const src = await source('k05.vhdx', 512);
    for (const format of ['vhdx', 'qcow2', 'vhd']) assert.deepEqual((await run(src, `k05-out.${format}`, { outputFormat: format })).warnings, []);
  });
});

describe('a target\'s largest size', () => {
  it('--target azure refuses a 1,100 GiB source before writing, and takes 1,023 GiB', async () => {
    const big = join(dir, 'big.raw');
    writeFileSync(big, '');
    await truncate(big, 1100 * 2 ** 30);
    const err = await rejectsWithCode(convert(big, join(dir, 'big.vhd'), { target: 'azure' }), 'OUT_OF_RANGE');
    assert.match(err.message, /more than the 1098437885952 bytes \(1023 GiB\) the target takes/);
    assert.equal(existsSync(join(dir, 'big.vhd')), false);
    await truncate(big, 1023 * 2 ** 30);
    await convert(big, join(dir, 'max.vhd'), { target: 'azure' });
    const out = await openImage(join(dir, 'max.vhd'));
    try {
      assert.equal(out.virtualSize, 1023 * 2 ** 30);
    } finally {
      await out.close();
    }
  });
});
