/**
 * `vdisk backup serve` against the real NBD clients: a pattern disk is backed
 * up into a local repository, the snapshot served on a Unix socket, read
 * with nbdinfo, nbdcopy and qemu-img, and the server stopped with SIGTERM.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { chunkName } from '../../src/backup/layout.js';
import { openRepository } from '../../src/backup/repository.js';
import { ok, SOURCE_SIZE, sourceDisk, summary } from '../helpers/backup-cli.js';
import { vdisk } from '../helpers/cli.js';
import { startServer } from '../helpers/nbd-server.js';
import { needTools, run } from '../helpers/oracles.js';
import { tempDir } from '../helpers/tmp.js';

const CHUNK = 4 * 1024 * 1024;
/** NBD_STATE_ZERO in nbdinfo --map's `type`. */
const STATE_ZERO = 2;

const dir = tempDir('vdisk-backup-serve-');
const source = await sourceDisk(dir);
const repo = join(dir, 'repo');
ok('backup', 'init', repo);
const counts = summary(ok('backup', 'create', repo, source.vhd, '--name', 'disk'));
const expected = readFileSync(source.raw);

/** Which 4 MiB chunks of the source are all zeros (the ones the snapshot stores nothing for). */
const zeroChunks = Array.from({ length: Math.ceil(SOURCE_SIZE / CHUNK) }, (_, i) => expected.subarray(i * CHUNK, (i + 1) * CHUNK).every((b) => b === 0));

/** Starts `vdisk backup serve --json REPO REF` on `socket`. */
function serveSnapshot(ref: string, socket: string): ReturnType<typeof startServer> {
  return startServer('backup', 'serve', '--json', repo, ref, '-s', socket);
}

test('nbdinfo shows the snapshot read-only at its size, zero chunks as zeros; nbdcopy copies its bytes reading only stored chunks; SIGTERM exits 0', async (t) => {
  if (!needTools(t, 'nbdinfo', 'nbdcopy')) return;
  assert.equal(zeroChunks.filter(Boolean).length, counts.zero);
  assert.ok(counts.zero > 0 && counts.new > 0, JSON.stringify(counts));
  const socket = join(dir, 'copy.sock');
  const served = await serveSnapshot('disk', socket);
  const uri = served.ready.exports[0]!.uri;
  assert.equal(uri, `nbd+unix:///?socket=${socket}`);
  assert.deepEqual(served.ready.exports[0], { name: '', uri, size: SOURCE_SIZE, writable: false });
  const info = JSON.parse(run('nbdinfo', ['--json', '--no-content', uri]).stdout) as { exports: Record<string, unknown>[] };
  assert.equal(info.exports[0]!['export-size'], SOURCE_SIZE);
  assert.equal(info.exports[0]!.is_read_only, true);
  const map = JSON.parse(run('nbdinfo', ['--map', '--json', uri]).stdout) as { offset: number; length: number; type: number }[];
  assert.equal(map.reduce((n, e) => n + e.length, 0), SOURCE_SIZE);
  for (const e of map) {
    const first = e.offset / CHUNK;
    assert.ok(Number.isInteger(first), `extent at ${e.offset} starts on a chunk`);
    for (let i = first; i * CHUNK < e.offset + e.length; i++) assert.equal((e.type & STATE_ZERO) !== 0, zeroChunks[i], `chunk ${i}: type ${e.type}`);
  }
  const out = join(dir, 'nbdcopy.raw');
  run('nbdcopy', [uri, out]);
  const stopped = await served.stop();
  assert.equal(stopped.status, 0, stopped.stderr);
  assert.equal(stopped.stderr, '');
  assert.ok(readFileSync(out).equals(expected), 'nbdcopy wrote the source bytes');
  const storedBytes = zeroChunks.reduce((n, zero, i) => n + (zero ? 0 : Math.min(CHUNK, SOURCE_SIZE - i * CHUNK)), 0);
  assert.equal(stopped.stats?.readBytes, storedBytes, 'the server sent the stored chunks and nothing else');
  assert.equal(existsSync(socket), false, 'the socket is removed at exit');
});

test('qemu-img convert reads a snapshot served by its ID to the source bytes', async (t) => {
  if (!needTools(t, 'qemu-img')) return;
  const [snapshot] = JSON.parse(ok('backup', 'list', '--json', repo)) as { id: string }[];
  const socket = join(dir, 'qemu.sock');
  const served = await serveSnapshot(snapshot!.id, socket);
  const out = join(dir, 'qemu.raw');
  run('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', served.ready.exports[0]!.uri, out]);
  assert.equal((await served.stop()).status, 0);
  assert.ok(readFileSync(out).equals(expected));
});

test('backup serve refuses a missing snapshot, --writable and --snapshot with one line and exit 1', () => {
  const socket = join(dir, 'bad.sock');
  const missing = vdisk('backup', 'serve', repo, 'nope', '-s', socket);
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /^vdisk: [^\n]* has no snapshot 'nope' [^\n]*\(USAGE\)\n$/);
  const refused = /^vdisk: backup snapshot disk is served read-only: --writable and --snapshot take an image file \(USAGE\)\n$/;
  const writable = vdisk('backup', 'serve', '--writable', repo, 'disk', '-s', socket);
  assert.equal(writable.status, 1);
  assert.match(writable.stderr, refused);
  const kept = join(dir, 'overlay.vhd');
  const overlay = vdisk('backup', 'serve', `--snapshot=${kept}`, repo, 'disk', '-s', socket);
  assert.equal(overlay.status, 1);
  assert.match(overlay.stderr, refused);
  assert.equal(existsSync(kept), false);
  assert.equal(existsSync(socket), false, 'nothing listened');
});

test('a chunk missing from the repository fails the reads of it with an error, not the server', async (t) => {
  if (!needTools(t, 'nbdcopy', 'nbdinfo')) return;
  const damaged = join(dir, 'damaged');
  ok('backup', 'init', damaged);
  ok('backup', 'create', damaged, source.vhd, '--name', 'disk');
  const opened = await openRepository(damaged);
  const [first] = (await opened.loadIndex(await opened.find('disk'))).chunks;
  rmSync(join(damaged, chunkName(first!)));
  const served = await startServer('backup', 'serve', '--json', damaged, 'disk', '-s', join(dir, 'damaged.sock'));
  const uri = served.ready.exports[0]!.uri;
  const copy = run('nbdcopy', [uri, join(dir, 'damaged.raw')], true);
  assert.notEqual(copy.status, 0, 'nbdcopy saw the failed read');
  assert.match(copy.stderr, /Input\/output error/);
  assert.equal(JSON.parse(run('nbdinfo', ['--size', uri]).stdout), SOURCE_SIZE, 'the server still answers');
  assert.equal((await served.stop()).status, 0);
});
