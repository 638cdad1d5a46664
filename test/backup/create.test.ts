import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { backupCreate } from '../../src/backup/create.js';
import { initRepository, openRepository } from '../../src/backup/repository.js';
import { DiskImageError } from '../../src/errors.js';
import { rejectsWithCode } from '../helpers/assert-error.js';
import { DiskFile } from '../../src/io/file.js';
import type { FileOpener } from '../../src/io/image-file.js';
import { writePatternDisk } from '../helpers/pattern-disk.js';
import { tempDir } from '../helpers/tmp.js';

const MiB = 1024 * 1024;

/** A sparse 64 MiB + 512 pattern disk (a fifth of its 1 MiB blocks hold data), an empty repository, and the number of data blocks. */
async function sparseSource(): Promise<{ raw: string; repo: string; blocks: number }> {
  const dir = tempDir('vdisk-backup-');
  const raw = join(dir, 'sparse.raw');
  const blocks = await writePatternDisk(raw, { size: 64 * MiB + 512, blockSize: MiB, fraction: 0.2 });
  const repo = join(dir, 'repo');
  await initRepository(repo);
  return { raw, repo, blocks };
}

/** A file opener that calls `onRead` with the bytes of each read before doing it (which may throw). */
function watchingReads(onRead: (bytes: number) => void): FileOpener {
  return async (path, mode) => {
    const file = await DiskFile.open(path, mode);
    const read = file.read.bind(file);
    file.read = async (buf, offset) => {
      onRead(buf.length);
      return read(buf, offset);
    };
    return file;
  };
}

/** Every file name under `dir`, recursively. */
function allFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' });
}

test('backup create reads only the data extents: holes and all-zero chunks are not read', async () => {
  const { raw, repo, blocks } = await sparseSource();
  let readBytes = 0;
  const m = await backupCreate(repo, raw, { openFile: watchingReads((n) => (readBytes += n)) });
  assert.ok(blocks > 0 && m.counts.zero > 0, JSON.stringify(m.counts));
  assert.ok(readBytes >= blocks * MiB, `${readBytes} bytes read, ${blocks} MiB of data`);
  assert.ok(readBytes < blocks * MiB + 64 * 1024, `${readBytes} bytes read, ${blocks} MiB of data`);
});

test('a backup that fails part way publishes no snapshot and leaves no temporary file', async () => {
  const { raw, repo } = await sparseSource();
  let readBytes = 0;
  const failing = watchingReads((n) => {
    readBytes += n;
    if (readBytes > 6 * MiB) throw new DiskImageError('IO', 'injected read failure');
  });
  const err = await rejectsWithCode(backupCreate(repo, raw, { openFile: failing }), 'IO');
  assert.match(err.message, /injected read failure/);
  assert.deepEqual(await (await openRepository(repo)).snapshots(), []);
  assert.deepEqual(allFiles(repo).filter((f) => f.split('/').at(-1)!.startsWith('.')), []);
  assert.ok(allFiles(repo).some((f) => f.startsWith('chunks/')), 'chunks stored before the failure stay, for a re-run');
});
