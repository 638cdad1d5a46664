/**
 * The write modes of `vdisk serve` (--writable, --snapshot, --snapshot=FILE)
 * driven by qemu-io over NBD: where the writes land, what is left at exit,
 * and the exclusive lock a writable export holds.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { buildChain } from '../helpers/chain.js';
import { vdisk } from '../helpers/cli.js';
import { startServe } from '../helpers/nbd-server.js';
import { needTools, run, sha256OfFile } from '../helpers/oracles.js';
import { writePatternDisk } from '../helpers/pattern-disk.js';
import { tempDir } from '../helpers/tmp.js';

const MiB = 1024 * 1024;
const dir = tempDir('vdisk-serve-ops-');

let subdirs = 0;

/** A fresh directory inside the test's (buildChain names its files alike in each). */
function subdir(): string {
  const d = join(dir, `t${++subdirs}`);
  mkdirSync(d);
  return d;
}

/** The guest view of an image as a raw file's bytes. */
function guest(image: string): Buffer {
  const out = join(dir, `guest-${Math.random().toString(36).slice(2)}.raw`);
  assert.equal(vdisk('convert', '-O', 'raw', image, out).status, 0);
  return readFileSync(out);
}

/** `before` with 64 KiB of 0xab at 1 MiB: what qemu-io's write makes of it. */
function withWrite(before: Buffer): Buffer {
  const after = Buffer.from(before);
  after.fill(0xab, MiB, MiB + 64 * 1024);
  return after;
}

/** qemu-io writes 64 KiB of 0xab at 1 MiB through NBD. */
function qemuWrite(uri: string): void {
  run('qemu-io', ['-f', 'raw', '-c', 'write -P 0xab 1M 64k', uri]);
}

test('--snapshot=FILE: qemu-io writes into a kept child whose guest view has the write; the served chain is unchanged', async (t) => {
  if (!needTools(t, 'qemu-io')) return;
  const [base, top] = await buildChain(subdir(), 8 * MiB, [[[0, 4 * MiB, 1]], [[2 * MiB, MiB, 2]]]);
  const before = guest(top!);
  const hashes = [await sha256OfFile(base!), await sha256OfFile(top!)];
  const kept = join(dir, 'kept.vhd');
  const served = await startServe('-s', join(dir, 'snapfile.sock'), `--snapshot=${kept}`, top!);
  assert.equal(served.ready.exports[0]!.snapshot, kept);
  assert.equal(served.ready.exports[0]!.writable, true);
  qemuWrite(served.ready.exports[0]!.uri);
  const stopped = await served.stop();
  assert.equal(stopped.status, 0, stopped.stderr);
  assert.ok(guest(kept).equals(withWrite(before)));
  assert.deepEqual([await sha256OfFile(base!), await sha256OfFile(top!)], hashes);
  assert.equal(vdisk('check', kept).status, 0);
});

test('--snapshot: the temporary child takes the writes and is deleted at exit', async (t) => {
  if (!needTools(t, 'qemu-io')) return;
  const [image] = await buildChain(subdir(), 8 * MiB, [[[0, 2 * MiB, 4]]], 'vhdx');
  const hash = await sha256OfFile(image!);
  const served = await startServe('-s', join(dir, 'snaptemp.sock'), image!, '--snapshot');
  const child = served.ready.exports[0]!.snapshot!;
  assert.ok(existsSync(child));
  qemuWrite(served.ready.exports[0]!.uri);
  const stats = JSON.parse(run('qemu-img', ['info', '--output=json', '-f', 'raw', served.ready.exports[0]!.uri]).stdout) as { 'virtual-size': number };
  assert.equal(stats['virtual-size'], 8 * MiB);
  assert.equal((await served.stop()).status, 0);
  assert.equal(existsSync(dirname(child)), false, 'the temporary directory is gone');
  assert.equal(await sha256OfFile(image!), hash);
});

test('--snapshot of an image whose format has no differencing images is refused with one line', async () => {
  const raw = join(dir, 'base.raw');
  await writePatternDisk(raw, { size: 8 * MiB, blockSize: MiB, fraction: 0.5 });
  const r = vdisk('serve', '-s', join(dir, 'refused.sock'), '--snapshot', raw);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^vdisk: --snapshot needs an image in a format with differencing images \(.*\); .*base\.raw is raw \(UNSUPPORTED\)\n$/);
});

test('--writable: qemu-io writes into the image itself, which is locked against a second writer meanwhile', async (t) => {
  if (!needTools(t, 'qemu-io')) return;
  const [image] = await buildChain(subdir(), 8 * MiB, [[[0, 2 * MiB, 3]]]);
  const before = guest(image!);
  const served = await startServe('-s', join(dir, 'writable.sock'), '--writable', image!);
  const second = vdisk('serve', '-s', join(dir, 'second.sock'), '--writable', image!);
  assert.equal(second.status, 1);
  assert.match(second.stderr, /\(IO\)\n$/);
  qemuWrite(served.ready.exports[0]!.uri);
  const stopped = await served.stop();
  assert.equal(stopped.status, 0, stopped.stderr);
  assert.equal(stopped.stats?.writtenBytes, 64 * 1024);
  assert.ok(guest(image!).equals(withWrite(before)));
  assert.equal(vdisk('check', image!).status, 0);
});
