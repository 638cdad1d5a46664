import assert from 'node:assert/strict';
import { readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { sha256Hex } from '../../src/backup/chunk-object.js';
import { backupCreate } from '../../src/backup/create.js';
import { DirStore } from '../../src/backup/dir-store.js';
import { chunkName, indexName, manifestName } from '../../src/backup/layout.js';
import { encodeManifest } from '../../src/backup/manifest.js';
import { initRepository, openRepository } from '../../src/backup/repository.js';
import { encodeIndex } from '../../src/backup/snapshot-index.js';
import { backupVerify } from '../../src/backup/verify.js';
import { vdisk } from '../helpers/cli.js';
import { writePatternDisk } from '../helpers/pattern-disk.js';
import { tempDir } from '../helpers/tmp.js';

const MiB = 1024 * 1024;
/** Fast lease timing for tests. */
const FAST = { beatMs: 50, staleMs: 10_000 };

test('verify names the snapshots a damaged chunk breaks, and a sample checks a share of the chunks', async () => {
  const dir = tempDir('vdisk-verify-');
  const repo = join(dir, 'repo');
  await initRepository(repo);
  const a = join(dir, 'a.raw');
  const b = join(dir, 'b.raw');
  await writePatternDisk(a, { size: 16 * MiB, blockSize: MiB, fraction: 1 });
  await writePatternDisk(b, { size: 8 * MiB, blockSize: MiB, fraction: 1, seed: 3 });
  const ma = await backupCreate(repo, a, { timing: FAST });
  const ma2 = await backupCreate(repo, a, { timing: FAST });
  const mb = await backupCreate(repo, b, { timing: FAST });
  const clean = await backupVerify(repo);
  assert.deepEqual([clean.snapshots, clean.chunks, clean.checked, clean.damage.length], [3, 6, 6, 0]);
  const half = await backupVerify(repo, { sample: 0.5 });
  assert.equal(half.checked, 3);
  const victim = (await (await openRepository(repo)).loadIndex(ma)).chunks[2]!;
  const path = join(repo, chunkName(victim));
  const bytes = readFileSync(path);
  bytes[bytes.length - 5]! ^= 0xff;
  writeFileSync(path, bytes);
  const bad = await backupVerify(repo);
  assert.deepEqual(bad.broken, [ma.id, ma2.id].sort());
  assert.equal(bad.damage.length, 1);
  assert.equal(bad.damage[0]!.object, chunkName(victim));
  assert.ok(!bad.broken.includes(mb.id));
});

test('verify through the CLI: a truncated, a missing chunk, a garbage manifest and an index of 2^40-byte chunks each name what they break; exit 2', async () => {
  const dir = tempDir('vdisk-verify-');
  const repo = join(dir, 'repo');
  await initRepository(repo);
  const disks = [0, 1, 2, 3].map((i) => join(dir, `d${i}.raw`));
  const ids: string[] = [];
  for (const [i, disk] of disks.entries()) {
    await writePatternDisk(disk, { size: 8 * MiB, blockSize: MiB, fraction: 1, seed: 1000 * (i + 1) });
    ids.push((await backupCreate(repo, disk, { timing: FAST })).id);
  }
  const clean = vdisk('backup', 'verify', repo);
  assert.equal(clean.status, 0, clean.stderr);
  assert.match(clean.stdout, /^Verified all 8 chunks of 4 snapshots: no damage\.\n$/);
  const opened = await openRepository(repo);
  const snapshots = await opened.snapshots();
  const chunkOf = async (k: number) => join(repo, chunkName((await opened.loadIndex(snapshots.find((m) => m.id === ids[k])!)).chunks[0]!));
  truncateSync(await chunkOf(0), 40);
  rmSync(await chunkOf(1));
  writeFileSync(join(repo, manifestName(ids[2]!)), '{"version": 1, "id": ');
  const m3 = snapshots.find((m) => m.id === ids[3])!;
  const huge = encodeIndex({ meta: { name: m3.name, createdAt: m3.createdAt, diskSize: m3.diskSize, sourceFormat: 'raw', chunkSize: 2 ** 40 }, chunks: [] });
  await new DirStore(repo).create(indexName(sha256Hex(huge)), huge);
  writeFileSync(join(repo, manifestName(ids[3]!)), encodeManifest({ ...m3, index: sha256Hex(huge) }));
  const r = vdisk('backup', 'verify', repo);
  assert.equal(r.status, 2, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 5, r.stdout);
  assert.ok(lines.some((l) => l.includes(ids[0]!) && /damaged: chunks\/.*(no chunk header|does not decompress)/.test(l)), r.stdout);
  assert.ok(lines.some((l) => l.includes(ids[1]!) && /damaged: chunks\/.* is missing/.test(l)), r.stdout);
  assert.ok(lines.some((l) => /damaged: snapshots\/.*not valid JSON/.test(l)), r.stdout);
  assert.ok(lines.some((l) => l.includes(`index of ${ids[3]}`) && /chunk size 1099511627776/.test(l)), r.stdout);
  assert.match(lines.at(-1)!, /4 snapshot\(s\) broken/);
  const json = JSON.parse(vdisk('backup', 'verify', repo, '--json').stdout) as { broken: string[] };
  assert.equal(json.broken.length, 4);
  assert.equal(vdisk('backup', 'verify', repo, '--sample', '0%').status, 1);
  assert.ok(readFileSync(join(repo, 'vdisk-backup.json')).length > 0);
});
