/**
 * Size rules: a size a format cannot hold exactly is rounded up, never
 * down. convert warns, `vdisk info` of the result shows the new size, the
 * bytes past the source read as zeros, and qemu-img sees the same size.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { convert } from '../../src/ops/convert.js';
import { compare } from '../../src/ops/compare.js';
import { vdisk } from '../helpers/cli.js';
import { needTools, qemuInfo } from '../helpers/oracles.js';
import { fillPattern } from '../helpers/pattern-disk.js';
import { tempDir } from '../helpers/tmp.js';

/** A source size that is no whole number of sectors. */
const SIZE = 3 * 1024 * 1024 + 100;

/** An output that rounds: how to ask for it, the size it holds, and qemu's name for it (none: qemu does not open it). */
interface Rounding {
  name: string;
  format: string;
  options: Record<string, string>;
  size: number;
  qemu?: string;
}

/** Every output that rounds SIZE. */
const ROUNDING: Rounding[] = [
  { name: 'vhd dynamic', format: 'vhd', options: {}, size: SIZE - 100 + 512, qemu: 'vpc' },
  { name: 'vhd fixed', format: 'vhd', options: { subformat: 'fixed' }, size: SIZE - 100 + 512, qemu: 'vpc' },
  { name: 'vhdx 512-byte sectors', format: 'vhdx', options: {}, size: SIZE - 100 + 512, qemu: 'vhdx' },
  // qemu 7.2 refuses a VHDX with 4 KiB logical sectors ("Operation not supported").
  { name: 'vhdx 4 KiB logical sectors', format: 'vhdx', options: { logical_sector_size: '4096' }, size: SIZE - 100 + 4096 },
  { name: 'vmdk monolithicSparse', format: 'vmdk', options: {}, size: SIZE - 100 + 512, qemu: 'vmdk' },
  { name: 'vmdk streamOptimized', format: 'vmdk', options: { subformat: 'streamOptimized' }, size: SIZE - 100 + 512, qemu: 'vmdk' },
  { name: 'qcow2', format: 'qcow2', options: {}, size: SIZE - 100 + 512, qemu: 'qcow2' },
  { name: 'vdi', format: 'vdi', options: {}, size: SIZE - 100 + 512, qemu: 'vdi' },
];

function source(dir: string): string {
  const path = join(dir, 'src.raw');
  const data = new Uint8Array(SIZE);
  fillPattern(data, 0, 7);
  writeFileSync(path, data);
  return path;
}

for (const out of ROUNDING) {
  test(`${out.name}: ${SIZE} bytes rounded up to ${out.size}, with a warning; info and qemu-img show the new size`, async (t) => {
    const dir = tempDir();
    const src = source(dir);
    const dst = join(dir, `out.${out.format}`);
    const warnings: string[] = [];
    const r = await convert(src, dst, { outputFormat: out.format, options: out.options, onWarning: (w) => warnings.push(w) });
    assert.equal(r.virtualSize, out.size);
    const sectorWarnings = out.options.logical_sector_size ? 1 : 0;
    assert.equal(warnings.length, 1 + sectorWarnings, warnings.join('; '));
    if (sectorWarnings) assert.match(warnings[0]!, /512-byte sectors and the output 4096-byte ones/);
    assert.match(warnings[sectorWarnings]!, new RegExp(`cannot hold ${SIZE} bytes exactly; the disk was rounded up to ${out.size} bytes \\(${out.size - SIZE} more\\)`));
    const info = vdisk('info', '--json', dst);
    assert.equal(info.status, 0, info.stderr);
    assert.equal(JSON.parse(info.stdout).virtualSize, out.size);
    const same = await compare(src, dst);
    assert.equal(same.identical, true, 'the bytes past the source read as zeros (compare treats the longer tail as zeros)');
    if (out.qemu && needTools(t, 'qemu-img')) assert.equal(qemuInfo(dst, out.qemu)['virtual-size'], out.size);
  });
}

test('raw holds any size: no rounding, no warning', async () => {
  const dir = tempDir();
  const warnings: string[] = [];
  const r = await convert(source(dir), join(dir, 'out.raw'), { outputFormat: 'raw', options: {}, onWarning: (w) => warnings.push(w) });
  assert.equal(r.virtualSize, SIZE);
  assert.deepEqual(warnings, []);
});

test('the CLI prints the warning on stderr', () => {
  const dir = tempDir();
  const r = vdisk('convert', '-O', 'vdi', source(dir), join(dir, 'out.vdi'));
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /rounded up to 3146240 bytes/);
});
