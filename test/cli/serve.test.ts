/**
 * `vdisk serve` against the real NBD clients: nbdinfo and nbdcopy (libnbd),
 * qemu-img. Each test starts the CLI on a Unix socket (or TCP on
 * 127.0.0.1), drives it with the client, and stops it with SIGTERM.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildChain } from '../helpers/chain.js';
import { vdisk } from '../helpers/cli.js';
import { startServe } from '../helpers/nbd-server.js';
import { needTools, run } from '../helpers/oracles.js';
import { tempDir } from '../helpers/tmp.js';

const MiB = 1024 * 1024;
const dir = tempDir('vdisk-serve-cli-');
const [, child] = await buildChain(dir, 16 * MiB, [[[0, 3 * MiB, 1], [8 * MiB, MiB, 3]], [[MiB / 2, 64 * 1024, 2], [12 * MiB, 512 * 1024, 4]]]);
const expectedRaw = join(dir, 'expected.raw');
assert.equal(vdisk('convert', '-O', 'raw', child!, expectedRaw).status, 0);
const expected = readFileSync(expectedRaw);

/** Bytes of data extents in `vdisk map --json` of an image. */
function dataBytes(image: string): number {
  const extents = JSON.parse(vdisk('map', '--json', image).stdout) as { length: number; kind: string }[];
  return extents.filter((e) => e.kind === 'data').reduce((n, e) => n + e.length, 0);
}

test('nbdcopy copies a served VHD chain to the bytes vdisk convert -O raw writes, reading only its data', async (t) => {
  if (!needTools(t, 'nbdcopy')) return;
  const socket = join(dir, 'copy.sock');
  const served = await startServe('-s', socket, child!);
  assert.equal(served.ready.exports[0]!.uri, `nbd+unix:///?socket=${socket}`);
  const out = join(dir, 'nbdcopy.raw');
  run('nbdcopy', [served.ready.exports[0]!.uri, out]);
  const stopped = await served.stop();
  assert.equal(stopped.status, 0, stopped.stderr);
  assert.ok(readFileSync(out).equals(expected));
  assert.equal(stopped.stats?.readBytes, dataBytes(child!), 'the server sent the data extents and nothing else');
  assert.equal(existsSync(socket), false, 'the socket is removed at exit');
});

test('qemu-img convert -f raw reads a served chain; nbdinfo reports it read-only, multi-conn, with base:allocation', async (t) => {
  if (!needTools(t, 'qemu-img', 'nbdinfo')) return;
  const socket = join(dir, 'qemu.sock');
  const served = await startServe('-s', socket, child!);
  const uri = `nbd+unix:///?socket=${socket}`;
  const out = join(dir, 'qemu.raw');
  run('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', uri, out]);
  assert.ok(readFileSync(out).equals(expected));
  const info = JSON.parse(run('nbdinfo', ['--json', uri]).stdout) as { exports: Record<string, unknown>[] };
  assert.equal(info.exports[0]!['export-size'], 16 * MiB);
  assert.equal(info.exports[0]!.is_read_only, true);
  assert.equal(info.exports[0]!.can_multi_conn, true);
  assert.deepEqual(info.exports[0]!.contexts, ['base:allocation']);
  assert.equal((await served.stop()).status, 0);
});

test('serve listens on TCP 127.0.0.1 with --port, and nbdinfo --list shows every --export', async (t) => {
  if (!needTools(t, 'nbdinfo')) return;
  const served = await startServe('--port', '0', '--export', `top=${child!}`, '--export', `copy=${expectedRaw}`);
  const port = served.ready.port!;
  assert.ok(port > 0);
  assert.deepEqual(served.ready.exports.map((e) => e.uri), [`nbd://127.0.0.1:${port}/top`, `nbd://127.0.0.1:${port}/copy`]);
  const list = JSON.parse(run('nbdinfo', ['--json', '--list', `nbd://127.0.0.1:${port}`]).stdout) as { exports: { 'export-name': string; 'export-size': number }[] };
  assert.deepEqual(list.exports.map((e) => [e['export-name'], e['export-size']]), [
    ['top', 16 * MiB],
    ['copy', 16 * MiB],
  ]);
  assert.equal((await served.stop()).status, 0);
});

test('serve refuses bad usage with one line and exit 1', () => {
  const both = vdisk('serve', '--writable', '--snapshot', '-s', join(dir, 'x.sock'), child!);
  assert.equal(both.status, 1);
  assert.match(both.stderr, /^vdisk: --writable and --snapshot exclude each other \(USAGE\)\n$/);
  const badExport = vdisk('serve', '--export', 'noequals');
  assert.equal(badExport.status, 1);
  assert.match(badExport.stderr, /is not NAME=PATH \(USAGE\)/);
  const missing = vdisk('serve', '-s', join(dir, 'y.sock'), join(dir, 'missing.vhd'));
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /no such file \(IO\)/);
});

test('a socket left by a killed server is replaced; one a live server listens on is refused', async () => {
  const socket = join(dir, 'stale.sock');
  const first = await startServe('-s', socket, child!);
  const busy = vdisk('serve', '-s', socket, child!);
  assert.equal(busy.status, 1);
  assert.match(busy.stderr, /address in use \(USAGE\)/);
  first.kill();
  await first.exited;
  assert.ok(existsSync(socket), 'SIGKILL leaves the socket behind');
  const second = await startServe('-s', socket, child!);
  assert.equal((await second.stop()).status, 0);
});

test('--bind to an address others reach warns that NBD has no authentication; a loopback one does not', async (t) => {
  if (!needTools(t, 'nbdinfo')) return;
  const open = await startServe('--bind', '0.0.0.0', '--port', '0', child!);
  const port = open.ready.port!;
  assert.equal(JSON.parse(run('nbdinfo', ['--size', `nbd://127.0.0.1:${port}`]).stdout), 16 * MiB);
  const stopped = await open.stop();
  assert.match(stopped.stderr, /^vdisk: warning: listening on 0\.0\.0\.0: NBD has no authentication or encryption, anyone who reaches this address can read the exports\n/);
  const local = await startServe('--bind', '127.0.0.1', '--port', '0', child!);
  assert.equal((await local.stop()).stderr, '');
});

test('--snapshot=FILE of a server that cannot listen leaves no FILE behind', async () => {
  const socket = join(dir, 'taken.sock');
  const first = await startServe('-s', socket, child!);
  const kept = join(dir, 'never.vhd');
  const r = vdisk('serve', '-s', socket, `--snapshot=${kept}`, child!);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /address in use \(USAGE\)/);
  assert.equal(existsSync(kept), false);
  assert.equal((await first.stop()).status, 0);
});
