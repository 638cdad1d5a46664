import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { backupCreate } from '../../src/backup/create.js';
import { initRepository } from '../../src/backup/repository.js';
import { DiskFile } from '../../src/io/file.js';
import type { FileOpener } from '../../src/io/image-file.js';
import { writePatternDisk } from '../helpers/pattern-disk.js';
import { tempDir } from '../helpers/tmp.js';

const MiB = 1024 * 1024;

test('backup create reads only the data extents: holes and all-zero chunks are not read', async () => {
  const dir = tempDir('vdisk-backup-');
  const raw = join(dir, 'sparse.raw');
  const blocks = await writePatternDisk(raw, { size: 64 * MiB + 512, blockSize: MiB, fraction: 0.2 });
  const repo = join(dir, 'repo');
  await initRepository(repo);
  let readBytes = 0;
  const openFile: FileOpener = async (path, mode) => {
    const file = await DiskFile.open(path, mode);
    const read = file.read.bind(file);
    file.read = (buf, offset) => {
      readBytes += buf.length;
      return read(buf, offset);
    };
    return file;
  };
  const m = await backupCreate(repo, raw, { openFile });
  assert.ok(blocks > 0 && m.counts.zero > 0, JSON.stringify(m.counts));
  assert.ok(readBytes >= blocks * MiB, `${readBytes} bytes read, ${blocks} MiB of data`);
  assert.ok(readBytes < blocks * MiB + 64 * 1024, `${readBytes} bytes read, ${blocks} MiB of data`);
});
