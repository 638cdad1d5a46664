import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { backupCreate } from '../../src/backup/create.js';
import { DirStore } from '../../src/backup/dir-store.js';
import { CHUNK_SIZE, chunkName, indexName, manifestName } from '../../src/backup/layout.js';
import { encodeManifest, type Manifest } from '../../src/backup/manifest.js';
import { initRepository, openRepository } from '../../src/backup/repository.js';
import { restoreToFile } from '../../src/backup/restore.js';
import { chunkCount, encodeIndex } from '../../src/backup/snapshot-index.js';
import { sha256Hex } from '../../src/backup/chunk-object.js';
import { rejectsWithCode } from '../helpers/assert-error.js';
import { vdisk } from '../helpers/cli.js';
import { writePatternDisk } from '../helpers/pattern-disk.js';
import { tempDir } from '../helpers/tmp.js';

/** A repository holding one snapshot 'd' of a 9 MiB + 512 pattern disk (two full chunks and a short one), and the snapshot's files. */
async function backedUp(): Promise<{ dir: string; repo: string; m: Manifest; chunks: string[] }> {
  const dir = tempDir('vdisk-backup-bad-');
  const raw = join(dir, 'd.raw');
  await writePatternDisk(raw, { size: 2 * CHUNK_SIZE + 1024 * 1024 + 512, blockSize: 64 * 1024, fraction: 1 });
  const repo = join(dir, 'repo');
  await initRepository(repo);
  const m = await backupCreate(repo, raw);
  const index = await (await openRepository(repo)).loadIndex(m);
  return { dir, repo, m, chunks: index.chunks.map((d) => join(repo, chunkName(d!))) };
}

/** Restores snapshot 'd' of `repo` as raw and expects `code`; returns the error's message. */
async function restoreFails(dir: string, repo: string, code: 'CORRUPT' | 'IO' | 'UNSUPPORTED'): Promise<string> {
  const err = await rejectsWithCode(restoreToFile(repo, 'd', join(dir, `out-${Math.random()}.raw`), { outputFormat: 'raw' }), code);
  return err.message;
}

test('a repository restores when intact (the baseline the corruptions below break)', async () => {
  const { dir, repo, m } = await backedUp();
  const r = await restoreToFile(repo, 'd', join(dir, 'ok.raw'), { outputFormat: 'raw' });
  assert.equal(r.virtualSize, m.diskSize);
  assert.deepEqual(readFileSync(join(dir, 'ok.raw')), readFileSync(join(dir, 'd.raw')));
});

test('a missing, truncated or wrong-hash chunk is CORRUPT naming the chunk and the snapshot', async () => {
  const { dir, repo, m, chunks } = await backedUp();
  const [a, b, c] = chunks as [string, string, string];
  const saved = readFileSync(a);
  rmSync(a);
  assert.match(await restoreFails(dir, repo, 'CORRUPT'), new RegExp(`chunk chunks/../[0-9a-f]{64} of snapshot ${m.id} is missing`));
  writeFileSync(a, saved.subarray(0, saved.length - 100));
  assert.match(await restoreFails(dir, repo, 'CORRUPT'), new RegExp(`of snapshot ${m.id}: does not decompress`));
  writeFileSync(a, saved.subarray(0, 10));
  assert.match(await restoreFails(dir, repo, 'CORRUPT'), /no chunk header/);
  copyFileSync(b, a);
  assert.match(await restoreFails(dir, repo, 'CORRUPT'), /SHA-256 does not match its name/);
  copyFileSync(c, a);
  assert.match(await restoreFails(dir, repo, 'CORRUPT'), /it holds 1049088 bytes, the snapshot expects 4194304/);
  const huge = Buffer.from(saved);
  huge.writeUInt32LE(0xffffffff, 8);
  writeFileSync(a, huge);
  assert.match(await restoreFails(dir, repo, 'CORRUPT'), /it holds 4294967295 bytes/);
  truncateSync(a, 2 ** 40);
  assert.match(await restoreFails(dir, repo, 'CORRUPT'), /is 1099511627776 bytes, more than/);
});

test('a chunk whose frame holds more or fewer bytes than its header and index say is CORRUPT', async () => {
  const { dir, repo, chunks } = await backedUp();
  const [a, , c] = chunks as [string, string, string];
  const full = readFileSync(a);
  const short = readFileSync(c);
  full.writeUInt32LE(short.readUInt32LE(8), 8);
  writeFileSync(c, full);
  assert.match(await restoreFails(dir, repo, 'CORRUPT'), /does not decompress: the frame holds 4194304 bytes/);
  // One bad chunk at a time: restore reads chunks concurrently, so with two the first to fail is either.
  writeFileSync(c, short);
  short.writeUInt32LE(CHUNK_SIZE, 8);
  writeFileSync(a, short);
  assert.match(await restoreFails(dir, repo, 'CORRUPT'), /does not decompress: the frame holds 1049088 bytes/);
});

test('a garbage manifest or index, or an index of 2^40-byte chunks, is a one-line CORRUPT error', async () => {
  const { dir, repo, m } = await backedUp();
  const manifest = join(repo, manifestName(m.id));
  const index = join(repo, indexName(m.index));
  const good = readFileSync(index);
  writeFileSync(index, 'garbage');
  assert.match(await restoreFails(dir, repo, 'CORRUPT'), /SHA-256 does not match the manifest/);
  writeFileSync(index, good);
  const store = new DirStore(repo);
  const meta = { name: 'd', createdAt: m.createdAt, diskSize: m.diskSize, sourceFormat: 'raw' };
  for (const [bytes, why] of [
    [encodeIndex({ meta: { ...meta, chunkSize: 2 ** 40 }, chunks: [] }), /chunk size 1099511627776 is not 4194304/],
    [Buffer.from('VDBKIDX1\xff\xff\xff\x7f', 'latin1'), /metadata length 2147483647/],
    [encodeIndex({ meta: { ...meta, diskSize: 2 ** 60, chunkSize: CHUNK_SIZE }, chunks: [] }), /diskSize is 1152921504606847000, not an integer/],
    [encodeIndex({ meta: { ...meta, chunkSize: CHUNK_SIZE }, chunks: new Array<undefined>(chunkCount(m.diskSize) - 1).fill(undefined) }), /bytes of chunk digests/],
  ] as const) {
    const digest = sha256Hex(bytes);
    await store.create(indexName(digest), bytes);
    writeFileSync(manifest, encodeManifest({ ...m, index: digest }));
    assert.match(await restoreFails(dir, repo, 'CORRUPT'), why);
  }
  writeFileSync(manifest, '{"version": 1, "id": 7');
  await rejectsWithCode(async () => (await openRepository(repo)).snapshots(), 'CORRUPT');
  writeFileSync(manifest, encodeManifest({ ...m, index: 'x'.repeat(64) }));
  assert.match(await restoreFails(dir, repo, 'CORRUPT'), /index is not a SHA-256 digest/);
  writeFileSync(manifest, JSON.stringify({ ...JSON.parse(readFileSync(manifest, 'utf8')), version: 9 }));
  assert.match(await restoreFails(dir, repo, 'UNSUPPORTED'), /format version 9/);
  writeFileSync(manifest, Buffer.alloc(70 * 1024, 0x20));
  const r = vdisk('backup', 'list', repo);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^vdisk: .*is 71680 bytes, more than the 65536 such an object can hold \(CORRUPT\)\n$/);
});

test('the CLI reports a bad chunk as one line with its code', async () => {
  const { dir, repo, chunks } = await backedUp();
  writeFileSync(chunks[1]!, 'not a chunk at all');
  const r = vdisk('backup', 'restore', repo, 'd', '-O', 'qcow2', join(dir, 'out.qcow2'));
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^vdisk: [^\n]*chunk chunks\/..\/[0-9a-f]{64} of snapshot \S+: no chunk header[^\n]*\(CORRUPT\)\n$/);
  assert.equal(vdisk('backup', 'restore', repo, 'd', '-O', 'raw', '-').status, 1);
});
