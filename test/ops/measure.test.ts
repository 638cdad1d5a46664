import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { convert } from '../../src/ops/convert.js';
import { measure } from '../../src/ops/measure.js';
import { writePatternDisk } from '../helpers/pattern-disk.js';
import { vdisk } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

const MiB = 1024 * 1024;

/** Output formats and options measured against a real conversion. */
const OUTPUTS: [string, Record<string, string>][] = [
  ['raw', {}],
  ['vhd', {}],
  ['vhd', { subformat: 'fixed' }],
  ['vhd', { block_size: '512K' }],
  ['vhdx', {}],
  ['vhdx', { subformat: 'fixed' }],
  ['vhdx', { block_size: '1M' }],
  ['vhdx', { block_size: '1M', logical_sector_size: '4096' }],
  ['vdi', {}],
  ['vdi', { subformat: 'fixed' }],
  ['vdi', { block_size: '256K' }],
];

test('measure gives the exact size of the file convert writes, for every output', async () => {
  const dir = tempDir();
  const raw = join(dir, 'src.raw');
  await writePatternDisk(raw, { size: 70 * MiB + 3 * 512, blockSize: 256 * 1024, fraction: 0.3 });
  const sources = [raw, join(dir, 'src.vhd'), join(dir, 'src.vhdx')];
  await convert(raw, sources[1]!, { outputFormat: 'vhd' });
  await convert(raw, sources[2]!, { outputFormat: 'vhdx', options: { block_size: '1M' } });
  let n = 0;
  for (const src of sources) {
    for (const [format, options] of OUTPUTS) {
      const m = await measure(src, format, { options });
      const out = join(dir, `out${n++}.${format}`);
      await convert(src, out, { outputFormat: format, options });
      const what = `${src} -> ${format} ${JSON.stringify(options)}`;
      assert.equal(m.fileSize, statSync(out).size, what);
      assert.ok(m.allocatedBytes >= m.dataBytes && m.allocatedBytes <= m.fileSize, what);
      assert.ok(m.dataBytes > 0 && m.dataBytes < m.virtualSize, what);
    }
  }
});

test('measure --json from the CLI, and refusal of an option the format does not take', () => {
  const dir = tempDir();
  const img = join(dir, 'empty.vhd');
  assert.equal(vdisk('create', '-f', 'vhd', img, '100G').status, 0);
  const r = vdisk('measure', '--json', '-O', 'vhdx', img);
  assert.equal(r.status, 0, r.stderr);
  const m = JSON.parse(r.stdout) as { fileSize: number; dataBytes: number };
  assert.equal(m.dataBytes, 0);
  assert.equal(m.fileSize, 3 * MiB + MiB);
  const bad = vdisk('measure', '-O', 'raw', '-o', 'subformat=fixed', img);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /\(USAGE\)/);
});
