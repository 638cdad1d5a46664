import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readCompressed } from '../../src/chain/decompress.js';
import type { CompressedRun } from '../../src/formats/layer.js';
import { MemoryFile } from '../../src/io/memory-file.js';
import { rejectsWithCode } from '../helpers/assert-error.js';
import { rawFrame, rleBomb } from '../helpers/zstd.js';

/** A zstd compressed run over `stored` in memory, of a unit of `unit` bytes. */
async function zstdRun(stored: Uint8Array, unit: number): Promise<CompressedRun> {
  const source = new MemoryFile('z');
  await source.write(stored, 0);
  return { kind: 'compressed', offset: 0, length: unit, source, at: 0, storedLength: stored.length, codec: 'zstd', unitLength: unit, within: 0 };
}

test('a zstd unit followed by the start of the next one decodes from its own frame only', async () => {
  const frame = rawFrame([new Uint8Array(255).fill(5)], true);
  const next = rawFrame([new Uint8Array(255).fill(6)], true);
  const out = new Uint8Array(255);
  await readCompressed(await zstdRun(Uint8Array.from([...frame, ...next]), 255), out);
  assert.ok(out.every((b) => b === 5));
});

test('a zstd frame whose content size is not the unit, or whose blocks run past the unit, is CORRUPT; no large allocation', async () => {
  const frame = rawFrame([new Uint8Array(200)], true);
  await rejectsWithCode(readCompressed(await zstdRun(frame, 255), new Uint8Array(255)), 'CORRUPT');
  const bomb = rawFrame([new Uint8Array(60000), new Uint8Array(60000)], false);
  await rejectsWithCode(readCompressed(await zstdRun(bomb, 4096), new Uint8Array(4096)), 'CORRUPT');
  const wide = rawFrame([new Uint8Array(4096)], false);
  wide[5] = 0xf8;
  assert.match((await rejectsWithCode(readCompressed(await zstdRun(wide, 4096), new Uint8Array(4096)), 'CORRUPT')).message, /window/);
  const rle = rleBomb(1000);
  assert.match((await rejectsWithCode(readCompressed(await zstdRun(rle, 65536), new Uint8Array(65536)), 'CORRUPT')).message, /more than 65536/);
  await rejectsWithCode(readCompressed(await zstdRun(Uint8Array.from([1, 2, 3, 4, 5, 6, 7]), 4096), new Uint8Array(4096)), 'CORRUPT');
});
