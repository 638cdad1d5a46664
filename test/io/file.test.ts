import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { alignedBuffer, DIRECT_ALIGN } from '../../src/io/aligned-buffer.js';
import { DiskFile } from '../../src/io/file.js';
import { fileHelper } from '../../src/io/native.js';
import { descriptorsOn } from '../helpers/descriptors.js';
import { prng } from '../helpers/prng.js';
import { tempDir } from '../helpers/tmp.js';

const MiB = 1024 * 1024;

const native = fileHelper.kind === 'native' ? false : 'no native helper';

test('a created file gets an O_DIRECT descriptor; an opened one does not', { skip: native }, async () => {
  const path = join(tempDir(), 'a.raw');
  const created = await DiskFile.open(path, 'create');
  assert.deepEqual(descriptorsOn(path), { direct: 1, buffered: 1 });
  await created.close();
  assert.deepEqual(descriptorsOn(path), { direct: 0, buffered: 0 });
  const opened = await DiskFile.open(path, 'write');
  assert.deepEqual(descriptorsOn(path), { direct: 0, buffered: 1 });
  await opened.close();
  const other = join(dirname(path), 'b.raw');
  const buffered = await DiskFile.open(other, 'create', false);
  assert.deepEqual(descriptorsOn(other), { direct: 0, buffered: 1 }, 'create without direct');
  await buffered.close();
});

test('mixed direct and buffered writes, overlapping in pages, read back as a model says', { skip: native }, async () => {
  const path = join(tempDir(), 'mixed.raw');
  const size = 16 * MiB;
  const model = new Uint8Array(size);
  const f = await DiskFile.open(path, 'create');
  await f.truncate(size);
  const rand = prng(7);
  const source = alignedBuffer(2 * MiB);
  for (let i = 0; i < 200; i++) {
    // Half the writes are page-aligned in memory and on disk (direct), half start anywhere (buffered); lengths end anywhere.
    const aligned = i % 2 === 0;
    const skew = aligned ? 0 : 1 + Math.floor(rand() * (DIRECT_ALIGN - 1));
    const length = 1 + Math.floor(rand() * (MiB + DIRECT_ALIGN));
    const offset = (Math.floor(rand() * ((size - length - DIRECT_ALIGN) / DIRECT_ALIGN)) * DIRECT_ALIGN + skew) % (size - length);
    const buf = source.subarray(skew, skew + length);
    for (let j = 0; j < length; j++) buf[j] = (i * 31 + j) & 0xff;
    await f.write(buf, offset);
    model.set(buf, offset);
  }
  await f.sync();
  const back = new Uint8Array(size);
  await f.read(back, 0);
  await f.close();
  assert.ok(Buffer.from(back).equals(Buffer.from(model)), 'the file reads as the model');
  assert.ok(Buffer.from(readFileSync(path)).equals(Buffer.from(model)), 'a fresh read of the file agrees');
});

test('direct writes into a sparse file allocate only what they write', { skip: native }, async () => {
  const path = join(tempDir(), 'sparse.raw');
  const f = await DiskFile.open(path, 'create');
  await f.truncate(64 * MiB);
  const buf = alignedBuffer(MiB).fill(0xa5);
  await f.write(buf, 32 * MiB);
  await f.sync();
  await f.close();
  const st = statSync(path);
  assert.equal(st.size, 64 * MiB);
  assert.ok(st.blocks * 512 <= 2 * MiB, `allocated ${st.blocks * 512} bytes`);
  const back = readFileSync(path);
  assert.equal(back[32 * MiB], 0xa5);
  assert.equal(back[32 * MiB - 1], 0);
});
