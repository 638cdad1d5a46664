/**
 * The fixed newstyle handshake of `vdisk serve` (proto.md, "Fixed newstyle
 * negotiation", "Option types"), driven byte by byte by a test client
 * against a real server on a Unix socket.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openImage } from '../../src/formats/registry.js';
import { buildChain } from '../helpers/chain.js';
import { RawNbdClient, str32, u16 } from '../helpers/nbd-client.js';
import { startNbdServer } from '../helpers/nbd-server.js';
import { tempDir } from '../helpers/tmp.js';

const MiB = 1024 * 1024;
const dir = tempDir('vdisk-nbd-handshake-');
const [base, child] = await buildChain(dir, 4 * MiB, [[[0, MiB, 1]], [[MiB / 2, 64 * 1024, 2]]]);
const { socket } = await startNbdServer(dir, { '': await openImage(child!), second: await openImage(base!) });

const REP_ACK = 1;
const REP_SERVER = 2;
const REP_INFO = 3;
const ERR_UNSUP = 0x80000001;
const ERR_INVALID = 0x80000003;
const ERR_UNKNOWN = 0x80000006;

test('the greeting offers fixed newstyle and no-zeroes; an unknown option gets NBD_REP_ERR_UNSUP and the next option is read', async () => {
  const c = await RawNbdClient.connect(socket);
  assert.equal(await c.greeting(), 3);
  c.send(Buffer.from([0, 0, 0, 3]));
  c.option(99, Buffer.from('ignored data'));
  assert.deepEqual((await c.optionReplies()).map((r) => [r.option, r.type]), [[99, ERR_UNSUP]]);
  c.option(3);
  const list = await c.optionReplies();
  assert.deepEqual(list.map((r) => r.type), [REP_SERVER, REP_SERVER, REP_ACK]);
  assert.deepEqual(list.slice(0, 2).map((r) => r.data.subarray(4, 4 + r.data.readUInt32BE(0)).toString()), ['', 'second']);
  c.close();
});

test('NBD_OPT_INFO gives the export size, flags and block sizes; an unknown name gets NBD_REP_ERR_UNKNOWN', async () => {
  const c = await RawNbdClient.connect(socket);
  await c.start();
  c.option(6, Buffer.concat([str32('second'), u16(1), u16(3)]));
  const replies = await c.optionReplies();
  assert.equal(replies.at(-1)!.type, REP_ACK);
  const exp = replies.find((r) => r.type === REP_INFO && r.data.readUInt16BE(0) === 0)!;
  assert.equal(Number(exp.data.readBigUInt64BE(2)), 4 * MiB);
  assert.equal(exp.data.readUInt16BE(10) & 0x3, 0x3, 'HAS_FLAGS and READ_ONLY');
  const sizes = replies.find((r) => r.type === REP_INFO && r.data.readUInt16BE(0) === 3)!;
  assert.deepEqual([sizes.data.readUInt32BE(2), sizes.data.readUInt32BE(6), sizes.data.readUInt32BE(10)], [1, 4096, 32 * MiB]);
  c.option(6, Buffer.concat([str32('nope'), u16(0)]));
  assert.deepEqual((await c.optionReplies()).map((r) => r.type), [ERR_UNKNOWN]);
  c.option(6, Buffer.concat([str32('second'), u16(5)]));
  assert.deepEqual((await c.optionReplies()).map((r) => r.type), [ERR_INVALID], 'five information requests announced, none sent');
  c.close();
});

test('options that take no data refuse data with NBD_REP_ERR_INVALID; NBD_OPT_ABORT is acknowledged and the server hangs up', async () => {
  const c = await RawNbdClient.connect(socket);
  await c.start();
  c.option(3, Buffer.from('x'));
  assert.deepEqual((await c.optionReplies()).map((r) => r.type), [ERR_INVALID]);
  c.option(8, Buffer.from('x'));
  assert.deepEqual((await c.optionReplies()).map((r) => r.type), [ERR_INVALID]);
  c.option(10, Buffer.concat([str32(''), Buffer.from([0, 0, 0, 1]), str32('base:allocation')]));
  assert.deepEqual((await c.optionReplies()).map((r) => r.type), [ERR_INVALID], 'metadata contexts before structured replies');
  c.option(2);
  assert.deepEqual((await c.optionReplies()).map((r) => r.type), [REP_ACK]);
  await c.closed;
});

test('NBD_OPT_EXPORT_NAME enters transmission with 124 zero bytes unless the client asked for none', async () => {
  for (const [flags, extra] of [
    [1, 124],
    [3, 0],
  ] as const) {
    const c = await RawNbdClient.connect(socket);
    await c.start(flags);
    c.option(1, Buffer.from('second'));
    const reply = await c.mustRead(10 + extra);
    assert.equal(Number(reply.readBigUInt64BE(0)), 4 * MiB);
    assert.ok(reply.subarray(10).every((b) => b === 0));
    c.request(0, 0, 512, { cookie: 7n });
    const r = await c.reply();
    assert.deepEqual(r, { kind: 'simple', error: 0, cookie: 7n });
    assert.equal((await c.mustRead(512))[0] !== 0, true, 'the base has data at 0');
    c.request(2, 0, 0);
    await c.closed;
  }
});

test('NBD_OPT_EXPORT_NAME of an unknown export closes the connection, as it cannot return an error', async () => {
  const c = await RawNbdClient.connect(socket);
  await c.start();
  c.option(1, Buffer.from('nope'));
  await c.closed;
});
