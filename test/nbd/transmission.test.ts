/**
 * The transmission phase (proto.md, "Transmission", "Request types") driven
 * by a test client against a real server: structured and simple READ,
 * WRITE with FUA, WRITE_ZEROES (with and without NO_HOLE), TRIM, FLUSH,
 * and the errors a read-only export and bad ranges get.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openImage } from '../../src/formats/registry.js';
import type { WritableDiskImage } from '../../src/formats/types.js';
import { buildChain } from '../helpers/chain.js';
import { RawNbdClient } from '../helpers/nbd-client.js';
import { startNbdServer } from '../helpers/nbd-server.js';
import { fillPattern } from '../helpers/pattern-disk.js';
import { tempDir } from '../helpers/tmp.js';

const MiB = 1024 * 1024;
const dir = tempDir('vdisk-nbd-transmission-');
const [, child] = await buildChain(dir, 8 * MiB, [[[0, 4 * MiB, 1]], [[MiB, 512 * 1024, 2]]]);
const [base] = await buildChain(tempDir('vdisk-nbd-transmission-rw-'), 8 * MiB, [[[0, 4 * MiB, 1]]]);
const reader = await openImage(child!);
const expected = Buffer.alloc(8 * MiB);
await reader.readAt(expected, 0);
const { socket: roSocket } = await startNbdServer(dir, { '': reader });
const writable = (await openImage(base!, { writable: true })) as WritableDiskImage;
const { socket: rwSocket } = await startNbdServer(dir, { '': { image: writable, writable: true } });

const CMD = { READ: 0, WRITE: 1, DISC: 2, FLUSH: 3, TRIM: 4, WRITE_ZEROES: 6 };
const EPERM = 1;
const EINVAL = 22;
const ENOSPC = 28;
const EOVERFLOW = 75;

/** A structured READ's data: one OFFSET_DATA chunk marked DONE. */
async function readStructured(c: RawNbdClient, offset: number, length: number): Promise<Buffer> {
  c.request(CMD.READ, offset, length, { cookie: 9n });
  const r = await c.reply();
  assert.ok(r.kind === 'chunk' && r.type === 1 && r.flags === 1 && r.cookie === 9n, r.kind === 'chunk' ? `chunk type ${r.type}: ${r.payload.subarray(6).toString()}` : `simple reply, error ${r.error}`);
  assert.equal(Number(r.payload.readBigUInt64BE(0)), offset);
  return r.payload.subarray(8);
}

test('READ returns the guest view of the chain, in a structured chunk or after a simple reply', async () => {
  const c = await RawNbdClient.connect(roSocket);
  await c.go();
  assert.ok((await readStructured(c, MiB - 4096, 2 * MiB)).equals(expected.subarray(MiB - 4096, 3 * MiB - 4096)));
  c.request(CMD.FLUSH, 0, 0);
  assert.equal(await c.replyError(), 0, 'FLUSH of a read-only export succeeds');
  c.request(CMD.DISC, 0, 0);
  await c.closed;
  const s = await RawNbdClient.connect(roSocket);
  await s.go('', { structured: false });
  s.request(CMD.READ, 3 * MiB, 1000, { cookie: 3n });
  assert.deepEqual(await s.reply(), { kind: 'simple', error: 0, cookie: 3n });
  assert.ok((await s.mustRead(1000)).equals(expected.subarray(3 * MiB, 3 * MiB + 1000)));
  s.close();
});

test('a read-only export refuses WRITE, WRITE_ZEROES and TRIM with NBD_EPERM; ranges past the end get NBD_EINVAL', async () => {
  const c = await RawNbdClient.connect(roSocket);
  const { flags } = await c.go();
  assert.equal(flags & 0x2, 0x2, 'NBD_FLAG_READ_ONLY');
  c.request(CMD.WRITE, 0, 512, { payload: Buffer.alloc(512, 1) });
  assert.equal(await c.replyError(), EPERM);
  c.request(CMD.WRITE_ZEROES, 0, 512);
  assert.equal(await c.replyError(), EPERM);
  c.request(CMD.TRIM, 0, 512);
  assert.equal(await c.replyError(), EPERM);
  c.request(CMD.READ, 8 * MiB - 512, 1024);
  assert.equal(await c.replyError(), EINVAL);
  c.request(CMD.READ, 0, 33 * MiB);
  assert.equal(await c.replyError(), EOVERFLOW, 'a structured read over the maximum payload');
  c.request(CMD.READ, 0, 512, { flags: 0x10 });
  assert.equal(await c.replyError(), EINVAL, 'a flag READ does not take');
  c.request(99, 0, 512);
  assert.equal(await c.replyError(), EINVAL, 'an unknown command');
  assert.ok((await readStructured(c, 0, 4096)).equals(expected.subarray(0, 4096)), 'and the connection still serves');
  c.close();
});

test('a writable export takes WRITE with FUA, WRITE_ZEROES with and without NO_HOLE, TRIM and FLUSH; the image shows them', async () => {
  const c = await RawNbdClient.connect(rwSocket);
  const { flags } = await c.go();
  assert.equal(flags & 0x16e, 0x16c, 'FLUSH, FUA, TRIM, WRITE_ZEROES, MULTI_CONN and not READ_ONLY');
  const data = Buffer.alloc(3 * 4096 + 100);
  fillPattern(data, 0, 77);
  c.request(CMD.WRITE, 5 * MiB + 100, data.length, { flags: 1, payload: data });
  assert.equal(await c.replyError(), 0);
  c.request(CMD.WRITE_ZEROES, 100, 4096, { flags: 2 });
  assert.equal(await c.replyError(), 0);
  c.request(CMD.WRITE_ZEROES, MiB, MiB);
  assert.equal(await c.replyError(), 0);
  c.request(CMD.TRIM, 2 * MiB, MiB, { flags: 1 });
  assert.equal(await c.replyError(), 0);
  c.request(CMD.WRITE, 8 * MiB - 512, 1024, { payload: Buffer.alloc(1024) });
  assert.equal(await c.replyError(), ENOSPC, 'a write past the end');
  c.request(CMD.FLUSH, 0, 0);
  assert.equal(await c.replyError(), 0);
  assert.ok((await readStructured(c, 5 * MiB + 100, data.length)).equals(data));
  assert.ok((await readStructured(c, 0, 2 * MiB)).subarray(100, 4196).every((b) => b === 0));
  assert.ok((await readStructured(c, MiB, 2 * MiB)).every((b) => b === 0), 'zeroed, and trimmed to zeros (no parent)');
  c.close();
  const check = Buffer.alloc(data.length);
  const reopened = await openImage(base!, { writable: true }).catch(() => undefined);
  assert.equal(reopened, undefined, 'the served image is locked against another writer');
  await writable.readAt(check, 5 * MiB + 100);
  assert.ok(check.equals(data));
});
