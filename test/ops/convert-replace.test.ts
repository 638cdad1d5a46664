import assert from 'node:assert/strict';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { DiskImageError } from '../../src/errors.js';
import { DiskFile } from '../../src/io/file.js';
import { convert } from '../../src/ops/convert.js';
import { writePatternDisk } from '../helpers/pattern-disk.js';
import { vdisk } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

const MiB = 1024 * 1024;

test('an existing DST is refused unless --replace, which swaps it atomically for the new image', async () => {
  const dir = tempDir();
  const src = join(dir, 'src.raw');
  await writePatternDisk(src, { size: 4 * MiB, blockSize: MiB, fraction: 0.5 });
  const dst = join(dir, 'out.raw');
  writeFileSync(dst, 'old contents');
  const refused = vdisk('convert', '-O', 'raw', src, dst);
  assert.equal(refused.status, 1);
  assert.match(refused.stderr, /already exists/);
  assert.equal(readFileSync(dst, 'utf8'), 'old contents');
  const replaced = vdisk('convert', '--replace', '-O', 'raw', src, dst);
  assert.equal(replaced.status, 0, replaced.stderr);
  assert.ok(readFileSync(dst).equals(readFileSync(src)));
  assert.deepEqual(readdirSync(dir).sort(), ['out.raw', 'src.raw']);
});

test('--replace refuses the source, a non-file, and a file another process holds', async () => {
  const dir = tempDir();
  const src = join(dir, 'src.raw');
  await writePatternDisk(src, { size: 4 * MiB, blockSize: MiB, fraction: 0.5 });
  const isCode = (code: string) => (e: unknown) => e instanceof DiskImageError && e.code === code;
  await assert.rejects(convert(src, src, { outputFormat: 'raw', replace: true }), isCode('USAGE'));
  await assert.rejects(convert(src, dir, { outputFormat: 'raw', replace: true }), isCode('USAGE'));
  const dst = join(dir, 'busy.raw');
  writeFileSync(dst, 'in use');
  const holder = await DiskFile.open(dst, 'write');
  try {
    await assert.rejects(convert(src, dst, { outputFormat: 'raw', replace: true }), isCode('IO'));
  } finally {
    await holder.close();
  }
  assert.equal(readFileSync(dst, 'utf8'), 'in use');
  assert.equal(vdisk('convert', '--replace', '-O', 'raw', src, '-').status, 1);
});
