/**
 * base:allocation over NBD (proto.md, "Metadata querying", "`base:allocation`
 * metadata context"): nbdinfo --map of a served VHD chain, a VHDX with a
 * zero block and a qcow2 that qemu wrote (data, a zero cluster, unallocated
 * clusters) shows the runs vdisk map shows; a test client checks context
 * negotiation and NBD_CMD_FLAG_REQ_ONE.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { openImage } from '../../src/formats/registry.js';
import { buildChain } from '../helpers/chain.js';
import { vdisk } from '../helpers/cli.js';
import { RawNbdClient, str32, u32 } from '../helpers/nbd-client.js';
import { startNbdServer, startServe } from '../helpers/nbd-server.js';
import { needTools, run, toolExists } from '../helpers/oracles.js';
import { tempDir } from '../helpers/tmp.js';
import { setBatEntry } from '../helpers/vhdx.js';

const MiB = 1024 * 1024;
const dir = tempDir('vdisk-nbd-status-');
const [, vhdChild] = await buildChain(dir, 16 * MiB, [[[0, 2 * MiB, 1], [9 * MiB, MiB, 3]], [[MiB / 2, 64 * 1024, 2], [12 * MiB, 512 * 1024, 4]]]);
const [, vhdxChild] = await buildChain(dir, 8 * MiB, [[[0, 4 * MiB, 5]], [[3 * MiB, MiB, 6]]], 'vhdx');
/** PAYLOAD_BLOCK_ZERO (MS-VHDX 2.5.1.1): block 1 of the child reads as zeros, hiding the parent's data. */
setBatEntry(vhdxChild!, 1, 2, 0);

/** `vdisk map` as base:allocation runs: [offset, length, flags], runs of equal flags merged. */
function expectedMap(image: string): [number, number, number][] {
  const flags: Record<string, number> = { data: 0, zero: 2, unallocated: 3 };
  const out: [number, number, number][] = [];
  for (const e of JSON.parse(vdisk('map', '--json', image).stdout) as { offset: number; length: number; kind: string }[]) {
    const last = out.at(-1);
    if (last && last[2] === flags[e.kind]) last[1] += e.length;
    else out.push([e.offset, e.length, flags[e.kind]!]);
  }
  return out;
}

/** A qcow2 v3 made and written by qemu: data at 0 and 5 MiB, a zero cluster range at 2 MiB (write -z), the rest unallocated; undefined when qemu's tools are missing. */
function qemuQcow2(): string | undefined {
  if (!toolExists('qemu-img') || !toolExists('qemu-io')) return undefined;
  const path = join(dir, 'qemu.qcow2');
  run('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', 'compat=1.1', path, '8M']);
  run('qemu-io', ['-f', 'qcow2', '-c', 'write -P 1 0 1M', '-c', 'write -z 2M 1M', '-c', 'write -P 2 5M 512k', path]);
  return path;
}
const qcow2 = qemuQcow2();

for (const [name, image] of [
  ['a dynamic VHD chain', vhdChild!],
  ['a VHDX child with a zero block', vhdxChild!],
  ['a qcow2 written by qemu-io, with a zero cluster range', qcow2],
] as const) {
  test(`nbdinfo --map of ${name} shows the runs of vdisk map`, async (t) => {
    if (!needTools(t, 'nbdinfo', 'qemu-img', 'qemu-io') || !image) return;
    const expected = expectedMap(image);
    assert.ok(expected.some((r) => r[2] === 0) && expected.some((r) => r[2] !== 0), 'the image mixes data and zeros');
    const served = await startServe('-s', join(dir, `map-${expected.length}.sock`), image);
    const map = JSON.parse(run('nbdinfo', ['--map', '--json', served.ready.exports[0]!.uri]).stdout) as { offset: number; length: number; type: number }[];
    assert.deepEqual(map.map((r) => [r.offset, r.length, r.type]), expected);
    assert.equal((await served.stop()).status, 0);
  });
}

test('the VHDX zero block is reported as ZERO without HOLE: stored as zeros, not absent', () => {
  assert.deepEqual(expectedMap(vhdxChild!).find((r) => r[0] === MiB), [MiB, MiB, 2]);
});

test('LIST_META_CONTEXT lists base:allocation; SET_META_CONTEXT selects it; REQ_ONE gets one descriptor within the length', async () => {
  const { socket } = await startNbdServer(dir, { '': await openImage(vhdChild!) });
  const c = await RawNbdClient.connect(socket);
  await c.start();
  c.option(8);
  await c.optionReplies();
  for (const queries of [[], ['base:'], ['base:allocation'], ['other:thing', 'base:allocation']]) {
    c.option(9, Buffer.concat([str32(''), u32(queries.length), ...queries.map(str32)]));
    const replies = await c.optionReplies();
    assert.deepEqual(replies.map((r) => [r.type, r.data.subarray(4).toString()]), [[4, 'base:allocation'], [1, '']], JSON.stringify(queries));
  }
  c.option(9, Buffer.concat([str32(''), u32(1), str32('other:')]));
  assert.deepEqual((await c.optionReplies()).map((r) => r.type), [1], 'an unknown namespace matches nothing');
  c.option(10, Buffer.concat([str32(''), u32(1), str32('base:allocation')]));
  const set = await c.optionReplies();
  assert.deepEqual(set.map((r) => r.type), [4, 1]);
  const id = set[0]!.data.readUInt32BE(0);
  c.option(7, Buffer.concat([str32(''), Buffer.alloc(2)]));
  assert.equal((await c.optionReplies()).at(-1)!.type, 1);
  c.request(7, 0, 16 * MiB, { flags: 8, cookie: 5n });
  const one = await c.reply();
  assert.ok(one.kind === 'chunk' && one.type === 5 && one.flags === 1 && one.cookie === 5n);
  assert.deepEqual([one.payload.readUInt32BE(0), one.payload.length, one.payload.readUInt32BE(8)], [id, 12, 0], 'one data descriptor');
  c.request(7, 4 * MiB, 4 * MiB, { cookie: 6n });
  const all = await c.reply();
  assert.ok(all.kind === 'chunk');
  const descriptors = [];
  for (let at = 4; at < all.payload.length; at += 8) descriptors.push([all.payload.readUInt32BE(at), all.payload.readUInt32BE(at + 4)]);
  assert.deepEqual(descriptors, [[4 * MiB, 3]], 'nothing stored at 4-8 MiB in any layer');
  c.request(7, 15 * MiB, 2 * MiB, { cookie: 7n });
  assert.equal(await c.replyError(), 22, 'NBD_EINVAL past the end');
  c.request(2, 0, 0);
  await c.closed;
});

test('NBD_CMD_BLOCK_STATUS without a selected context gets NBD_EINVAL', async () => {
  const { socket } = await startNbdServer(dir, { '': await openImage(vhdChild!) });
  const c = await RawNbdClient.connect(socket);
  await c.go('', { allocation: false });
  c.request(7, 0, MiB);
  assert.equal(await c.replyError(), 22);
  c.close();
});
