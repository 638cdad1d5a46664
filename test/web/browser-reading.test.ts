import assert from 'node:assert/strict';
import { deflateRawSync, deflateSync } from 'node:zlib';
import { test } from 'node:test';
import { readCompressedInBrowser } from '../../src/browser/inflate.js';
import { PickedFiles } from '../../src/browser/picked-files.js';
import type { CompressedRun } from '../../src/formats/layer.js';
import { MemoryFile } from '../../src/io/memory-file.js';
import { rejectsWithCode } from '../helpers/assert-error.js';

/**
 * The parts of the browser entry that run in Node as in a browser: inflating
 * through DecompressionStream (a global in Node 20 too), and finding files a
 * VMDK descriptor names among the picked ones. The page itself is tested in
 * chromium (page.test.ts, formats.test.ts).
 */

/** A compressed run of `codec` over `stored` in memory, of a unit of `unit` bytes. */
async function run(stored: Uint8Array, unit: number, codec: 'deflate' | 'zlib'): Promise<CompressedRun> {
  const source = new MemoryFile('c');
  await source.write(stored, 0);
  return { kind: 'compressed', offset: 0, length: unit, source, at: 0, storedLength: stored.length, codec, unitLength: unit, within: 0 };
}

/** 64 KiB of text that names its own offsets. */
function cluster(): Uint8Array {
  return new Uint8Array(Buffer.from(Array.from({ length: 2048 }, (_, i) => `byte ${i * 32}`.padEnd(31, '.') + '\n').join(''), 'latin1'));
}

test('a raw deflate cluster followed by the bytes of the sector it ends in, and a zlib grain, inflate whole', async () => {
  const unit = cluster();
  const junk = Buffer.concat([deflateRawSync(unit), Buffer.alloc(700, 0x5a)]);
  const out = new Uint8Array(unit.length);
  await readCompressedInBrowser(await run(junk, unit.length, 'deflate'), out);
  assert.deepEqual(out, unit);
  const part = new Uint8Array(1000);
  await readCompressedInBrowser({ ...(await run(deflateSync(unit), unit.length, 'zlib')), length: 1000, within: 5000 }, part);
  assert.deepEqual(part, unit.subarray(5000, 6000));
});

test('a deflate stream that inflates past its unit, one cut short, and garbage are CORRUPT', async () => {
  const bomb = deflateRawSync(new Uint8Array(64 * 1024 * 1024));
  assert.match((await rejectsWithCode(readCompressedInBrowser(await run(bomb, 65536, 'deflate'), new Uint8Array(65536)), 'CORRUPT')).message, /more than 65536/);
  const short = deflateRawSync(cluster()).subarray(0, 200);
  await rejectsWithCode(readCompressedInBrowser(await run(short, 65536, 'deflate'), new Uint8Array(65536)), 'CORRUPT');
  await rejectsWithCode(readCompressedInBrowser(await run(Uint8Array.from([0xff, 1, 2, 3, 4, 5, 6, 7]), 4096, 'zlib'), new Uint8Array(4096)), 'CORRUPT');
});

test('extent files are found among the picked files only: by the last part of their name; absolute, climbing or unpicked names are refused', () => {
  const files = new PickedFiles([{ name: 'disk.vmdk', blob: new Blob(['# Disk DescriptorFile\n']) }, { name: 'disk-s001.vmdk', blob: new Blob([new Uint8Array(512)]) }]);
  assert.equal(files.resolveBeside('disk.vmdk', 'disk-s001.vmdk'), 'disk-s001.vmdk');
  assert.equal(files.resolveBeside('disk.vmdk', 'sub/disk-s001.vmdk'), 'disk-s001.vmdk');
  for (const name of ['/etc/disk-s001.vmdk', 'C:\\vm\\disk-s001.vmdk', '../disk-s001.vmdk']) assert.throws(() => files.resolveBeside('disk.vmdk', name), { code: 'CORRUPT' }, name);
  assert.throws(() => files.resolveBeside('disk.vmdk', 'disk-s002.vmdk'), { code: 'IO', message: /not among the picked files; pick it too/ });
});
