import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, fsyncSync, openSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { alignedBuffer, DIRECT_ALIGN } from '../../src/io/aligned-buffer.js';
import { DiskFile } from '../../src/io/file.js';
import { fileHelper } from '../../src/io/native.js';
import { WINDOW_BYTES } from '../../src/io/writeback-window.js';
import { descriptorsOn } from '../helpers/descriptors.js';
import { prng } from '../helpers/prng.js';
import { tempDir } from '../helpers/tmp.js';

const MiB = 1024 * 1024;

const native = fileHelper.kind === 'native' ? false : 'no native helper';

test('only the direct policy opens an O_DIRECT descriptor for writing', { skip: native }, async () => {
  const path = join(tempDir(), 'a.raw');
  const created = await DiskFile.open(path, 'create');
  assert.deepEqual(descriptorsOn(path), { direct: 0, buffered: 1 }, 'create: window policy');
  await created.close();
  assert.deepEqual(descriptorsOn(path), { direct: 0, buffered: 0 });
  const opened = await DiskFile.open(path, 'write');
  assert.deepEqual(descriptorsOn(path), { direct: 0, buffered: 1 });
  await opened.close();
  const direct = await DiskFile.open(path, 'write', 'direct');
  assert.deepEqual(descriptorsOn(path), { direct: 1, buffered: 1 }, 'write, direct policy');
  await direct.close();
  const other = join(dirname(path), 'b.raw');
  const created2 = await DiskFile.open(other, 'create', 'direct');
  assert.deepEqual(descriptorsOn(other), { direct: 1, buffered: 1 }, 'create, direct policy');
  await created2.close();
});

test('the window policy leaves at most about two windows of a large output in the page cache, and the bytes are right', { skip: native }, async () => {
  const path = join(tempDir(), 'window.raw');
  const size = 320 * MiB;
  const f = await DiskFile.open(path, 'create');
  const buf = alignedBuffer(8 * MiB);
  for (let at = 0; at < size; at += buf.length) {
    buf.fill((at / buf.length) & 0xff);
    buf[0] = 0x5a;
    await f.write(buf, at);
  }
  await f.sync();
  const cached = fileHelper.cachedBytes(f.fd, 0, size);
  assert.ok(cached >= 0, 'cachestat answers on this kernel');
  assert.ok(cached <= 2 * WINDOW_BYTES, `${cached / MiB} MiB of ${size / MiB} MiB still cached`);
  const back = alignedBuffer(8 * MiB);
  for (let at = 0; at < size; at += back.length) {
    await f.read(back, at);
    assert.equal(back[0], 0x5a);
    assert.equal(back[1], (at / back.length) & 0xff, `chunk at ${at}`);
    assert.equal(back[back.length - 1], (at / back.length) & 0xff, `end of chunk at ${at}`);
  }
  await f.close();
});

test('mixed direct and buffered writes, overlapping in pages, read back as a model says', { skip: native }, async () => {
  const path = join(tempDir(), 'mixed.raw');
  const size = 16 * MiB;
  const model = new Uint8Array(size);
  const f = await DiskFile.open(path, 'create', 'direct');
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
  const f = await DiskFile.open(path, 'create', 'direct');
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

/** Drops a synced file's pages from the page cache (GNU dd: posix_fadvise DONTNEED over the whole file). */
function dropFromCache(path: string): void {
  assert.equal(spawnSync('dd', [`if=${path}`, 'iflag=nocache', 'count=0', 'status=none']).status, 0);
}

test('large aligned reads of an uncached range go around the page cache; cached ranges and small reads through it; the bytes are the same', { skip: native }, async (t) => {
  const path = join(tempDir(), 'r.raw');
  const size = 9 * MiB + 1234;
  const model = new Uint8Array(size);
  const next = prng(7);
  for (let i = 0; i < size; i++) model[i] = Math.floor(next() * 256);
  writeFileSync(path, model);
  const fd = openSync(path, 'r');
  fsyncSync(fd);
  if (fileHelper.cachedBytes(fd, 0, size) < 0) {
    closeSync(fd);
    return t.skip('the kernel has no cachestat (Linux 6.5+), so every read stays buffered');
  }
  dropFromCache(path);
  const file = await DiskFile.open(path, 'read');
  try {
    assert.deepEqual(descriptorsOn(path), { direct: 1, buffered: 2 });
    const buf = alignedBuffer(8 * MiB);
    assert.equal(await file.readSome(buf, MiB), 8 * MiB);
    assert.ok(Buffer.from(buf).equals(model.subarray(MiB, 9 * MiB)), 'direct read');
    assert.ok(fileHelper.cachedBytes(fd, MiB, 8 * MiB) < MiB, 'the range read directly did not enter the page cache');
    assert.equal(await file.readSome(buf, 8 * MiB), MiB + 1234, 'a direct read across the end is short');
    assert.ok(Buffer.from(buf.subarray(0, MiB + 1234)).equals(model.subarray(8 * MiB)), 'the tail past the last whole page');
    const small = new Uint8Array(4096);
    await file.read(small, 0);
    assert.ok(Buffer.from(small).equals(model.subarray(0, 4096)));
    assert.ok(fileHelper.cachedBytes(fd, 0, 4096) === 4096, 'a small read goes through the cache');
    readFileSync(path);
    assert.equal(await file.readSome(buf, 0), 8 * MiB);
    assert.ok(Buffer.from(buf).equals(model.subarray(0, 8 * MiB)), 'read of a cached range');
  } finally {
    await file.close();
    closeSync(fd);
  }
});
