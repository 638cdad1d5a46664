import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { HttpSource, isUrl } from '../../src/io/http-source.js';
import { rejectsWithCode } from '../helpers/assert-error.js';
import { startHttpServer, type HttpServerOptions, type TestHttpServer } from '../helpers/http-server.js';
import { prng } from '../helpers/prng.js';
import { tempDir } from '../helpers/tmp.js';

const KiB = 1024;
const MiB = 1024 * KiB;
/** The cache's window size: reads under it are cached, window boundaries are its multiples. */
const WINDOW_EDGE = 64 * KiB;

/** A directory holding `name` filled with `size` seeded random bytes, served over HTTP for the test; returns the server and the bytes. */
async function served(t: TestContext, size: number, opts?: HttpServerOptions): Promise<{ server: TestHttpServer; data: Uint8Array }> {
  const dir = tempDir();
  const rand = prng(size);
  const data = new Uint8Array(size);
  for (let i = 0; i < size; i++) data[i] = Math.floor(rand() * 256);
  writeFileSync(join(dir, 'disk.img'), data);
  const server = await startHttpServer(dir, opts);
  t.after(() => server.close());
  return { server, data };
}

/** Reads `length` bytes at `offset` of `src`. */
async function readAt(src: HttpSource, offset: number, length: number): Promise<Uint8Array> {
  const buf = new Uint8Array(length);
  await src.read(buf, offset);
  return buf;
}

test('isUrl tells http(s) URLs from paths', () => {
  assert.equal(isUrl('http://host/a.vhd'), true);
  assert.equal(isUrl('HTTPS://host/a.vhd'), true);
  assert.equal(isUrl('/tmp/a.vhd'), false);
  assert.equal(isUrl('C:\\images\\a.vhd'), false);
  assert.equal(isUrl('ftp://host/a.vhd'), false);
});

test('size and exact reads at several offsets, the last byte included', async (t) => {
  const size = 3 * MiB + 12345;
  const { server, data } = await served(t, size);
  const url = server.url + 'disk.img';
  const src = await HttpSource.open(url);
  assert.equal(src.path, url);
  assert.equal(src.size, size);
  assert.equal(server.requests(), 1, 'open is one HEAD');
  for (const [offset, length] of [
    [0, 512],
    [WINDOW_EDGE - 100, 300],
    [1 * MiB + 7, 200 * KiB],
    [size - 1, 1],
    [size - 70 * KiB, 70 * KiB],
    [0, size],
  ]) {
    const got = await readAt(src, offset, length);
    assert.ok(Buffer.from(got).equals(data.subarray(offset, offset + length)), `read of ${length} at ${offset}`);
  }
  await src.close();
  await src.close();
});

test('many small reads within one 64 KiB window cost one request', async (t) => {
  const { server, data } = await served(t, MiB);
  const src = await HttpSource.open(server.url + 'disk.img');
  const before = server.requests();
  const offsets = Array.from({ length: 100 }, (_, i) => 2 * WINDOW_EDGE + i * 512);
  const reads = await Promise.all(offsets.map((o) => readAt(src, o, 512)));
  for (const o of offsets.slice(0, 20)) assert.ok(Buffer.from(await readAt(src, o + 3, 100)).equals(data.subarray(o + 3, o + 103)));
  reads.forEach((got, i) => assert.ok(Buffer.from(got).equals(data.subarray(offsets[i], offsets[i] + 512)), `sector ${i}`));
  assert.equal(server.requests() - before, 1, 'concurrent and later reads share one fetch');
  assert.equal(server.bytesServed(), WINDOW_EDGE, 'one window served');
});

test('the window cache is bounded: the least recently used window is fetched again', async (t) => {
  const { server } = await served(t, 4 * MiB);
  const src = await HttpSource.open(server.url + 'disk.img');
  for (let w = 0; w <= 32; w++) await readAt(src, w * WINDOW_EDGE, 16);
  const before = server.requests();
  await readAt(src, 32 * WINDOW_EDGE, 16);
  assert.equal(server.requests(), before, 'a recent window is cached');
  await readAt(src, 0, 16);
  assert.equal(server.requests(), before + 1, 'the oldest window was evicted');
});

test('a large read is one request and is not cached', async (t) => {
  const { server, data } = await served(t, 4 * MiB);
  const src = await HttpSource.open(server.url + 'disk.img');
  const before = server.requests();
  const got = await readAt(src, MiB + 5, MiB);
  assert.ok(Buffer.from(got).equals(data.subarray(MiB + 5, 2 * MiB + 5)));
  assert.equal(server.requests() - before, 1);
  assert.equal(server.bytesServed(), MiB, 'exactly the bytes asked for');
  await readAt(src, MiB + 5, MiB);
  await readAt(src, MiB + 4096, 512);
  assert.equal(server.requests() - before, 3, 'neither the repeat nor a small read inside it came from a cache');
});

test('a server that refuses HEAD is sized from a Range GET of byte 0', async (t) => {
  const size = 200 * KiB;
  const server = createServer((req, res) => {
    if (req.method === 'HEAD') return void res.writeHead(405).end();
    const [start, end] = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '')!.slice(1).map(Number);
    res.writeHead(206, { 'content-range': `bytes ${start}-${end}/${size}`, 'content-length': end - start + 1 });
    res.end(Buffer.alloc(end - start + 1, start % 251));
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  t.after(() => new Promise<void>((done) => server.close(() => done())));
  const src = await HttpSource.open(`http://127.0.0.1:${(server.address() as AddressInfo).port}/disk.img`);
  assert.equal(src.size, size);
  assert.deepEqual([...(await readAt(src, 70 * KiB, 4))], [25, 25, 25, 25], 'a small read comes from the window at 64 KiB (65536 % 251)');
  assert.equal((await readAt(src, 100 * KiB, 64 * KiB))[0], (100 * KiB) % 251);
});

test('a read past the end is CORRUPT and sends no request', async (t) => {
  const { server } = await served(t, 100 * KiB);
  const src = await HttpSource.open(server.url + 'disk.img');
  const before = server.requests();
  const err = await rejectsWithCode(src.read(new Uint8Array(512), 100 * KiB - 511), 'CORRUPT');
  assert.match(err.message, /past the end/);
  await rejectsWithCode(src.read(new Uint8Array(MiB), 0), 'CORRUPT');
  assert.equal(server.requests(), before);
});

test('a missing file is IO naming the URL and 404 Not Found', async (t) => {
  const { server } = await served(t, 1024);
  const url = server.url + 'missing.img';
  const err = await rejectsWithCode(HttpSource.open(url), 'IO');
  assert.ok(err.message.includes(url), err.message);
  assert.match(err.message, /404 Not Found/);
  assert.equal(err.details.status, 404);
  assert.equal(err.details.path, url);
});

test('a path escaping the root is refused (403) as IO', async (t) => {
  const { server } = await served(t, 1024);
  const err = await rejectsWithCode(HttpSource.open(server.url + '..%2f..%2fetc%2fpasswd'), 'IO');
  assert.equal(err.details.status, 403);
});

test('a server without Range support is UNSUPPORTED and the image is not downloaded', async (t) => {
  const { server } = await served(t, 8 * MiB, { ranges: false });
  const url = server.url + 'disk.img';
  const err = await rejectsWithCode(HttpSource.open(url), 'UNSUPPORTED');
  assert.match(err.message, /does not support HTTP Range requests/);
  assert.equal(err.details.path, url);
  assert.ok(server.bytesServed() < MiB, `served ${server.bytesServed()} bytes`);
});

test('a connection dropped mid-read is IO naming the URL, offset and size', async (t) => {
  const { server } = await served(t, 4 * MiB, { dropAfter: 300 * KiB });
  const url = server.url + 'disk.img';
  const src = await HttpSource.open(url);
  const err = await rejectsWithCode(src.read(new Uint8Array(MiB), 2 * MiB), 'IO');
  assert.ok(err.message.includes(`${url}: read of ${MiB} bytes at ${2 * MiB} failed`), err.message);
  assert.equal(err.details.offset, 2 * MiB);
  const small = await rejectsWithCode(src.read(new Uint8Array(512), 0), 'IO');
  assert.match(small.message, /read of 65536 bytes at 0 failed/);
});

test('an unreachable server is IO', async (t) => {
  const { server } = await served(t, 1024);
  const url = server.url + 'disk.img';
  await server.close();
  const err = await rejectsWithCode(HttpSource.open(url), 'IO');
  assert.ok(err.message.startsWith(`${url}: open failed`), err.message);
});
