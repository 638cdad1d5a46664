import assert from 'node:assert/strict';
import { appendFileSync, readFileSync, truncateSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { backupCreate } from '../../src/backup/create.js';
import { initRepository, openRepository } from '../../src/backup/repository.js';
import { restoreToFile } from '../../src/backup/restore.js';
import { DiskFile } from '../../src/io/file.js';
import type { FileOpener } from '../../src/io/image-file.js';
import { addLayer, buildChain, viewOf } from '../helpers/chain.js';
import { writePatternDisk } from '../helpers/pattern-disk.js';
import { tempDir } from '../helpers/tmp.js';

const MiB = 1024 * 1024;

/** An opener that counts the bytes read through it. */
function counting(total: { bytes: number }): FileOpener {
  return async (path, mode) => {
    const file = await DiskFile.open(path, mode);
    const read = file.read.bind(file);
    file.read = async (buf, offset) => {
      total.bytes += buf.length;
      return read(buf, offset);
    };
    return file;
  };
}

/** Restores snapshot `ref` of `repo` as raw into `dir` and returns its bytes. */
async function restored(repo: string, ref: string, dir: string): Promise<Buffer> {
  const out = join(dir, `restored-${Math.random()}.raw`);
  await restoreToFile(repo, ref, out, { outputFormat: 'raw' });
  return readFileSync(out);
}

test('an unchanged source is backed up again without reading its data; any write to it makes the next backup read everything', async () => {
  const dir = tempDir('vdisk-incr-');
  const raw = join(dir, 'd.raw');
  await writePatternDisk(raw, { size: 32 * MiB, blockSize: MiB, fraction: 0.5 });
  const repo = join(dir, 'repo');
  await initRepository(repo);
  const first = await backupCreate(repo, raw);
  const read = { bytes: 0 };
  const again = await backupCreate(repo, raw, { openFile: counting(read) });
  assert.ok(read.bytes < 64 * 1024, `${read.bytes} bytes read for an unchanged source`);
  assert.deepEqual({ ...again.counts }, { ...first.counts, new: 0, reused: first.counts.new + first.counts.reused, storedBytes: 0 });
  assert.equal((await (await openRepository(repo)).loadIndex(again)).chunks.join(), (await (await openRepository(repo)).loadIndex(first)).chunks.join());
  // Same bytes written back: the content is equal, but the file was written, so everything is read again.
  const size = statSync(raw).size;
  appendFileSync(raw, Buffer.alloc(1));
  truncateSync(raw, size);
  read.bytes = 0;
  await backupCreate(repo, raw, { openFile: counting(read) });
  assert.ok(read.bytes > 8 * MiB, `only ${read.bytes} bytes read after a write`);
  read.bytes = 0;
  await backupCreate(repo, raw, { openFile: counting(read), full: true });
  assert.ok(read.bytes > 8 * MiB, `--full read only ${read.bytes} bytes`);
  assert.ok((await restored(repo, 'd', dir)).equals(readFileSync(raw)));
});

for (const format of ['vhd', 'qcow2'] as const) {
  test(`a ${format} child of the image backed up last is backed up by reading only the chunks the child allocates`, async () => {
    const dir = tempDir('vdisk-incr-');
    const size = 40 * MiB;
    const [base] = await buildChain(dir, size, [Array.from({ length: 10 }, (_, i): [number, number, number] => [i * 4 * MiB, 3 * MiB, i + 1])], format);
    const repo = join(dir, 'repo');
    await initRepository(repo);
    await backupCreate(repo, base!, { name: 'vm' });
    const child = join(dir, `child.${format}`);
    await addLayer(child, base, size, [[5 * MiB, 64 * 1024, 77], [33 * MiB, 4096, 0]], format);
    const read = { bytes: 0 };
    const m = await backupCreate(repo, child, { name: 'vm', openFile: counting(read) });
    assert.equal(m.counts.new, 2, JSON.stringify(m.counts));
    assert.ok(read.bytes < 2 * 4 * MiB + MiB, `${read.bytes} bytes read for a child touching 2 chunks`);
    assert.ok((await restored(repo, m.id, dir)).equals(await viewOf(child)));
    // A write to the base (here, of the bytes it held) breaks the shortcut: all is read again, and --full agrees.
    const baseSize = statSync(base!).size;
    appendFileSync(base!, Buffer.alloc(1));
    truncateSync(base!, baseSize);
    read.bytes = 0;
    const after = await backupCreate(repo, child, { name: 'vm', openFile: counting(read) });
    assert.ok(read.bytes > 20 * MiB, `only ${read.bytes} bytes read after the base was written`);
    const full = await backupCreate(repo, child, { name: 'vm', full: true });
    const digests = async (x: typeof m) => (await (await openRepository(repo)).loadIndex(x)).chunks.join();
    assert.equal(await digests(after), await digests(m));
    assert.equal(await digests(full), await digests(m));
  });
}
