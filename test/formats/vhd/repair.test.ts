import assert from 'node:assert/strict';
import { closeSync, openSync, readSync, statSync, writeSync } from 'node:fs';
import { truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { openImage } from '../../../src/formats/registry.js';
import { repairVhd } from '../../../src/formats/vhd/repair.js';
import { check } from '../../../src/ops/check.js';
import { convert } from '../../../src/ops/convert.js';
import { writePatternDisk } from '../../helpers/pattern-disk.js';
import { guestSha256OfFile } from '../../helpers/images.js';
import { tempDir } from '../../helpers/tmp.js';

const MiB = 1024 * 1024;

async function dynamicVhd(dir: string): Promise<{ path: string; sha: string }> {
  const raw = join(dir, 'src.raw');
  await writePatternDisk(raw, { size: 12 * MiB, blockSize: MiB, fraction: 0.6 });
  const path = join(dir, 'disk.vhd');
  await convert(raw, path, { outputFormat: 'vhd' });
  return { path, sha: await guestSha256OfFile(raw) };
}

test('a dynamic VHD without its end footer reads from the footer copy, and repair restores the footer', async () => {
  const dir = tempDir();
  const { path, sha } = await dynamicVhd(dir);
  const size = statSync(path).size;
  await truncate(path, size - 512);
  const warnings: string[] = [];
  assert.equal(await guestSha256OfFile(path, { onWarning: (w) => warnings.push(w) }), sha);
  assert.ok(warnings.some((w) => /footer copy/.test(w)), warnings.join('\n'));
  const before = await check(path);
  assert.equal(before.result, 'corruption');
  assert.ok(before.findings.some((f) => f.code === 'END_FOOTER_MISSING'));
  const changes = await repairVhd(path);
  assert.match(changes.join(';'), /rebuilt the missing end footer/);
  assert.equal(statSync(path).size, size);
  assert.equal((await check(path)).result, 'clean');
  assert.equal(await guestSha256OfFile(path), sha);
});

test('a damaged end footer falls back to a valid copy; repair rewrites it from the copy', async () => {
  const dir = tempDir();
  const { path, sha } = await dynamicVhd(dir);
  const fd = openSync(path, 'r+');
  writeSync(fd, Buffer.from('XXXX'), 0, 4, statSync(path).size - 512 + 48);
  closeSync(fd);
  const image = await openImage(path);
  assert.ok(image.warnings.some((w) => /using the footer copy/.test(w)), image.warnings.join('\n'));
  await image.close();
  assert.equal(await guestSha256OfFile(path), sha);
  await repairVhd(path);
  const after = await check(path);
  assert.equal(after.result, 'clean', JSON.stringify(after.findings));
  assert.equal(await guestSha256OfFile(path), sha);
});

test('a block cut off by truncation is CORRUPT, never zeros', async () => {
  const dir = tempDir();
  const { path } = await dynamicVhd(dir);
  await truncate(path, statSync(path).size - 512 - 4096);
  await assert.rejects(openImage(path), (e: Error & { code?: string }) => e.code === 'CORRUPT');
  const report = await check(path);
  assert.equal(report.result, 'corruption');
});

test('repair refuses when the footer and its copy both have wrong checksums and differ', async () => {
  const dir = tempDir();
  const { path } = await dynamicVhd(dir);
  const fd = openSync(path, 'r+');
  writeSync(fd, Buffer.from([1]), 0, 1, 84);
  writeSync(fd, Buffer.from([2]), 0, 1, statSync(path).size - 512 + 84);
  closeSync(fd);
  await assert.rejects(repairVhd(path), /guess/);
  const report = await check(path, { repair: true });
  assert.equal(report.result, 'corruption');
});

test('repair moves blocks into leaked space and cuts an unreferenced tail; the view is unchanged', async () => {
  const dir = tempDir();
  const { path, sha } = await dynamicVhd(dir);
  const before = statSync(path).size;
  const image = await openImage(path);
  const firstData = (await (async () => {
    for await (const e of image.extents()) if (e.kind === 'data') return e.offset;
    return -1;
  })())!;
  await image.close();
  const entry = 1536 + Math.floor(firstData / (2 * MiB)) * 4;
  const fd = openSync(path, 'r+');
  const keep = Buffer.alloc(4);
  readSync(fd, keep, 0, 4, entry);
  writeSync(fd, Buffer.from([0xff, 0xff, 0xff, 0xff]), 0, 4, entry);
  const junk = Buffer.alloc(3 * MiB, 0x5a);
  const footer = Buffer.alloc(512);
  readSync(fd, footer, 0, 512, before - 512);
  writeSync(fd, junk, 0, junk.length, before - 512);
  writeSync(fd, footer, 0, 512, before - 512 + junk.length);
  closeSync(fd);
  const leaky = await check(path);
  assert.equal(leaky.result, 'leaks', JSON.stringify(leaky.findings));
  const expected = await guestSha256OfFile(path);
  assert.notEqual(expected, sha, 'the unreferenced block now reads as zeros');
  const changes = await repairVhd(path);
  assert.match(changes.join(';'), /moved 1 block/);
  assert.equal((await check(path)).result, 'clean');
  assert.equal(await guestSha256OfFile(path), expected);
  // The last block (bitmap, data and the padding that 4 KiB-aligned its data) moved into the gap the dropped entry left.
  assert.equal(statSync(path).size, before - 2 * MiB - 4096);
});
