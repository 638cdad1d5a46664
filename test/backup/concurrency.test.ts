import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { initRepository } from '../../src/backup/repository.js';
import { raceBackupWithGc } from '../helpers/backup-race.js';
import { tempDir } from '../helpers/tmp.js';

test('a backup running alongside gc with a zero grace period loses no chunk it reuses (local directory)', { timeout: 300_000 }, async () => {
  const dir = tempDir('vdisk-backup-race-');
  const repo = join(dir, 'repo');
  await initRepository(repo);
  const waits = await raceBackupWithGc(repo, dir, 3, 200);
  assert.ok(waits > 0, 'gc never met a running backup: the race did not happen');
});
