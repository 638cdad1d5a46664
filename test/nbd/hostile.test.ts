/**
 * Bad clients (issue 17, "Hostile clients"): each test plays one against a
 * real server, checks it gets the error proto.md names or is disconnected,
 * and then checks that a good client is still served correctly. Also several
 * clients at once on one export.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openImage } from '../../src/formats/registry.js';
import type { WritableDiskImage } from '../../src/formats/types.js';
import { buildChain } from '../helpers/chain.js';
import { RawNbdClient, str32, u16, u32 } from '../helpers/nbd-client.js';
import { startNbdServer } from '../helpers/nbd-server.js';
import { tempDir } from '../helpers/tmp.js';

const MiB = 1024 * 1024;
const SIZE = 8 * MiB;
const dir = tempDir('vdisk-nbd-hostile-');
const [image] = await buildChain(dir, SIZE, [[[0, 3 * MiB, 1], [5 * MiB, MiB, 2]]]);
const target = (await openImage(image!, { writable: true })) as WritableDiskImage;
const expected = Buffer.alloc(SIZE);
await target.readAt(expected, 0);
const { socket, warnings } = await startNbdServer(dir, { '': { image: target, writable: true } });

/** A good client connects, reads 64 KiB at `offset` and finds the expected bytes. */
async function goodClientReads(offset = 2 * MiB - 32 * 1024): Promise<void> {
  const c = await RawNbdClient.connect(socket);
  await c.go();
  c.request(0, offset, 64 * 1024, { cookie: 42n });
  const r = await c.reply();
  assert.ok(r.kind === 'chunk' && r.type === 1 && r.cookie === 42n);
  assert.ok(r.payload.subarray(8).equals(expected.subarray(offset, offset + 64 * 1024)));
  c.request(2, 0, 0);
  await c.closed;
}

/** Connects and sends `bytes` after reading the greeting; resolves when the server hangs up. */
async function sendAndExpectClose(bytes: Buffer): Promise<void> {
  const c = await RawNbdClient.connect(socket);
  await c.greeting();
  c.send(bytes);
  await c.closed;
}

const IHAVEOPT = Buffer.from('IHAVEOPT');

test('malformed handshakes are dropped or refused, and the server goes on serving', async () => {
  await sendAndExpectClose(u32(0xff)); // client flags it does not know
  await sendAndExpectClose(Buffer.concat([u32(3), Buffer.from('BADMAGIC'), u32(7), u32(0)]));
  await sendAndExpectClose(Buffer.concat([u32(3), IHAVEOPT, u32(7), u32(0xffffffff)])); // 4 GiB of option data
  const c = await RawNbdClient.connect(socket);
  await c.start();
  for (const data of [
    Buffer.concat([u32(100), u16(0)]), // name longer than the data
    Buffer.concat([str32(''), u16(2), u16(0)]), // two information requests, one sent
    Buffer.concat([u32(2), Buffer.from([0xc3, 0x28]), u16(0)]), // not UTF-8
    Buffer.concat([u32(1), Buffer.from([0]), u16(0)]), // a NUL in the name
    Buffer.alloc(3),
  ]) {
    c.option(7, data);
    assert.deepEqual((await c.optionReplies()).map((r) => r.type), [0x80000003], data.toString('hex'));
  }
  c.option(8);
  await c.optionReplies();
  c.option(10, Buffer.concat([str32(''), u32(0xffffffff), str32('base:allocation')]));
  assert.deepEqual((await c.optionReplies()).map((r) => r.type), [0x80000003], 'more queries announced than sent');
  c.close();
  const half = await RawNbdClient.connect(socket);
  await half.greeting();
  half.send(Buffer.concat([u32(3), IHAVEOPT, u32(7)]));
  half.close(); // gone in the middle of an option header
  await goodClientReads();
});

test('a request of length 2^32 - 1 and offsets past the end get NBD_EOVERFLOW / NBD_EINVAL; a write that long closes the connection', async () => {
  const c = await RawNbdClient.connect(socket);
  await c.go();
  c.request(0, 0, 0xffffffff);
  assert.equal(await c.replyError(), 75);
  c.request(7, 0, 0xffffffff);
  assert.equal(await c.replyError(), 22);
  c.request(0, SIZE, 1);
  assert.equal(await c.replyError(), 22);
  c.request(0, 2 ** 62, 512);
  assert.equal(await c.replyError(), 22);
  c.request(6, SIZE - 512, 1024);
  assert.equal(await c.replyError(), 28, 'WRITE_ZEROES past the end: NBD_ENOSPC');
  c.request(1, 0, 0xffffffff);
  await c.closed;
  const simple = await RawNbdClient.connect(socket);
  await simple.go('', { structured: false });
  simple.request(0, 0, 0xffffffff);
  assert.equal(await simple.replyError(), 22, 'simple replies: NBD_EINVAL');
  simple.close();
  await goodClientReads();
});

test('10,000 pipelined requests are all answered, each once, with the right data', async () => {
  const c = await RawNbdClient.connect(socket);
  await c.go();
  const N = 10_000;
  const chunks: Buffer[] = [];
  for (let i = 0; i < N; i++) {
    const h = Buffer.alloc(28);
    h.writeUInt32BE(0x25609513, 0);
    h.writeUInt16BE(0, 6);
    h.writeBigUInt64BE(BigInt(i), 8);
    h.writeBigUInt64BE(BigInt((i * 4096) % SIZE), 16);
    h.writeUInt32BE(4096, 24);
    chunks.push(h);
  }
  c.send(Buffer.concat(chunks));
  const seen = new Set<bigint>();
  for (let i = 0; i < N; i++) {
    const r = await c.reply();
    assert.ok(r.kind === 'chunk' && r.type === 1);
    assert.equal(seen.has(r.cookie), false);
    seen.add(r.cookie);
    const offset = Number(r.payload.readBigUInt64BE(0));
    assert.equal(offset, (Number(r.cookie) * 4096) % SIZE);
    assert.ok(r.payload.subarray(8).equals(expected.subarray(offset, offset + 4096)));
  }
  assert.equal(seen.size, N);
  c.close();
  await goodClientReads();
});

test('a client gone in the middle of a write leaves the image as it was, and the server serving', async () => {
  const c = await RawNbdClient.connect(socket);
  await c.go();
  c.request(1, MiB, MiB, { payload: Buffer.alloc(1000, 0xee) });
  await new Promise((resolve) => setTimeout(resolve, 50));
  c.close();
  await goodClientReads(MiB);
});

test('a bad request magic closes that connection only', async () => {
  const bad = await RawNbdClient.connect(socket);
  await bad.go();
  const other = await RawNbdClient.connect(socket);
  await other.go();
  bad.request(0, 0, 512, { magic: 0x12560953 });
  await bad.closed;
  other.request(0, 4 * MiB, 512, { cookie: 8n });
  const r = await other.reply();
  assert.ok(r.kind === 'chunk' && r.cookie === 8n);
  other.close();
  assert.ok(warnings.some((w) => /bad request magic 0x12560953/.test(w)), warnings.join('\n'));
});

test('several clients at once read and write one export; a flush on one covers the writes of the others', async () => {
  const clients = await Promise.all(Array.from({ length: 8 }, () => RawNbdClient.connect(socket)));
  await Promise.all(clients.map((c) => c.go()));
  await Promise.all(
    clients.map(async (c, i) => {
      c.request(1, 6 * MiB + i * 4096, 4096, { payload: Buffer.alloc(4096, i + 1) });
      assert.equal(await c.replyError(), 0);
    }),
  );
  clients[0]!.request(3, 0, 0);
  assert.equal(await clients[0]!.replyError(), 0);
  await Promise.all(
    clients.map(async (c, i) => {
      const peer = (i + 1) % clients.length;
      c.request(0, 6 * MiB + peer * 4096, 4096, { cookie: BigInt(i) });
      const r = await c.reply();
      assert.ok(r.kind === 'chunk' && r.payload.subarray(8).every((b) => b === peer + 1));
      c.close();
    }),
  );
  for (let i = 0; i < clients.length; i++) expected.fill(i + 1, 6 * MiB + i * 4096, 6 * MiB + (i + 1) * 4096);
  await goodClientReads(6 * MiB);
});

test('a client that pipelines reads and does not read the replies pins its own budget only: the others are served', async () => {
  const budgetDir = tempDir('vdisk-nbd-budget-');
  const [own] = await buildChain(budgetDir, SIZE, [[[0, SIZE, 3]]]);
  const view = Buffer.alloc(SIZE);
  const { socket: small, server } = await startNbdServer(budgetDir, { '': await openImage(own!) }, { connectionBudget: 2 * MiB, budget: 4 * MiB });
  const stalled = await RawNbdClient.connect(small);
  await stalled.go();
  const N = 100;
  for (let i = 0; i < N; i++) stalled.request(0, (i % 8) * MiB, MiB, { cookie: BigInt(i) });
  await new Promise((resolve) => setTimeout(resolve, 500));
  const pinned = server.stats.readBytes;
  assert.ok(pinned <= 8 * MiB, `read ${pinned} bytes for a client that reads nothing`);
  const other = await RawNbdClient.connect(small);
  await other.go();
  other.request(0, 3 * MiB, MiB, { cookie: 1n });
  const r = await other.reply();
  assert.ok(r.kind === 'chunk' && r.type === 1, 'served while the stalled client holds its share of the server budget');
  const image = await openImage(own!);
  await image.readAt(view, 0);
  await image.close();
  assert.ok(r.payload.subarray(8).equals(view.subarray(3 * MiB, 4 * MiB)));
  other.close();
  for (let i = 0; i < N; i++) {
    const reply = await stalled.reply();
    assert.ok(reply.kind === 'chunk' && reply.payload.length === 8 + MiB);
  }
  stalled.close();
});
