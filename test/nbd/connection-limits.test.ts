/**
 * The handshake timeout and the connection cap (docs/security.md, Limits):
 * real servers on Unix sockets, raw sockets playing the stalling clients,
 * and nbdinfo (or the test client when libnbd is missing) as the good one.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { test } from 'node:test';
import { openImage } from '../../src/formats/registry.js';
import { buildChain } from '../helpers/chain.js';
import { RawNbdClient, str32, u16, u32 } from '../helpers/nbd-client.js';
import { startNbdServer } from '../helpers/nbd-server.js';
import { toolExists } from '../helpers/oracles.js';
import { tempDir } from '../helpers/tmp.js';

const MiB = 1024 * 1024;
const SIZE = 4 * MiB;
/** Short enough to keep the test quick, long enough for nbdinfo's handshake on a loaded machine. */
const TIMEOUT = 1500;
const CAP = 3;
const dir = tempDir('vdisk-nbd-limits-');
const [path] = await buildChain(dir, SIZE, [[[0, MiB, 1], [3 * MiB, MiB / 2, 2]]]);
const expected = Buffer.alloc(64 * 1024);
const source = await openImage(path!);
await source.readAt(expected, MiB - 32 * 1024);
await source.close();
const timed = await startNbdServer(dir, { '': await openImage(path!) }, { handshakeTimeout: TIMEOUT });
const capped = await startNbdServer(dir, { '': await openImage(path!) }, { maxConnections: CAP });

/** Reads 64 KiB across the end of the first written range and checks the bytes. */
async function readsBack(c: RawNbdClient): Promise<void> {
  c.request(0, MiB - 32 * 1024, 64 * 1024, { cookie: 7n });
  const r = await c.reply();
  assert.ok(r.kind === 'chunk' && r.type === 1 && r.cookie === 7n);
  assert.ok(r.payload.subarray(8).equals(expected));
}

/** A good client: nbdinfo reading the export's size when installed, else the test client reading bytes. */
async function goodClient(socket: string): Promise<void> {
  if (toolExists('nbdinfo')) {
    const { stdout } = await promisify(execFile)('nbdinfo', ['--size', `nbd+unix:///?socket=${socket}`]);
    assert.equal(Number(stdout.trim()), SIZE);
    return;
  }
  const c = await RawNbdClient.connect(socket);
  assert.equal((await c.go()).size, SIZE);
  await readsBack(c);
  c.close();
}

test('a client silent or stalled in the handshake is dropped after the timeout; a good client is served meanwhile', { timeout: 30_000 }, async () => {
  const started = Date.now();
  const silent = await RawNbdClient.connect(timed.socket);
  const stalled = await RawNbdClient.connect(timed.socket);
  await stalled.start();
  stalled.send(Buffer.from('IHAVEOPT\0\0')); // half an option header
  await goodClient(timed.socket);
  await silent.greeting();
  // Each reads what comes (a socket's close is seen once its data is read): nothing more, then the close.
  assert.deepEqual(await Promise.all([silent.reader.read(1), stalled.reader.read(1)]), [undefined, undefined]);
  await Promise.all([silent.closed, stalled.closed]);
  assert.ok(Date.now() - started >= TIMEOUT, `dropped after ${Date.now() - started} ms`);
  assert.equal(timed.warnings.filter((w) => w.includes(`handshake not finished within ${TIMEOUT} ms`)).length, 2, timed.warnings.join('\n'));
});

test('a client idle after the handshake is kept', { timeout: 30_000 }, async () => {
  const c = await RawNbdClient.connect(timed.socket);
  await c.go();
  await new Promise((resolve) => setTimeout(resolve, 2 * TIMEOUT));
  await readsBack(c);
  c.close();
});

test('a connection over the cap is closed before the greeting; the others are served, and a new one once one leaves', { timeout: 30_000 }, async () => {
  const held = await Promise.all(Array.from({ length: CAP }, () => RawNbdClient.connect(capped.socket)));
  for (const c of held) await c.greeting();
  const over = await RawNbdClient.connect(capped.socket);
  assert.equal(await over.reader.read(1), undefined);
  await over.closed;
  assert.ok(capped.warnings.some((w) => w.includes(`${CAP} connections are open (vdisk limit NBD_MAX_CONNECTIONS = ${CAP};`)), capped.warnings.join('\n'));
  held[0]!.close();
  await held[0]!.closed;
  assert.equal(await servedWithin(capped.socket, 50), true);
  for (const c of held.slice(1)) await afterGreetingReads(c);
});

/** True when a client is served within `tries` attempts 20 ms apart (the server frees a slot once it has seen the close). */
async function servedWithin(socket: string, tries: number): Promise<boolean> {
  for (let i = 0; i < tries; i++) {
    const c = await RawNbdClient.connect(socket);
    const greeted = await c.reader.read(18);
    if (greeted) {
      await afterGreetingReads(c);
      return true;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return false;
}

/** Finishes the handshake of a client that has read the greeting (structured replies, GO of the default export), reads back and disconnects. */
async function afterGreetingReads(c: RawNbdClient): Promise<void> {
  c.send(u32(3));
  c.option(8);
  await c.optionReplies();
  c.option(7, Buffer.concat([str32(''), u16(0)]));
  await c.optionReplies();
  await readsBack(c);
  c.close();
}
