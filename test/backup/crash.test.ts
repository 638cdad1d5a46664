/**
 * SIGKILL at 50 points in each of `backup create`, `backup prune` and
 * `backup gc` (real CLI runs), on one repository that keeps changing: after
 * every kill the repository verifies clean, every listed snapshot restores
 * to the disk it was taken of, and a re-run of the killed command finishes.
 */
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { initRepository, openRepository } from '../../src/backup/repository.js';
import { restoreToFile } from '../../src/backup/restore.js';
import { backupVerify } from '../../src/backup/verify.js';
import { vdiskKilledAfter } from '../helpers/cli.js';
import { writePatternDisk } from '../helpers/pattern-disk.js';
import { tempDir } from '../helpers/tmp.js';

const MiB = 1024 * 1024;
/** Rounds: one kill of each command per round. */
const ROUNDS = 50;

test('kill -9 at 50 points in backup create, prune and gc never leaves a repository that verify rejects or a snapshot that restores wrong', { timeout: 900_000 }, async () => {
  const dir = tempDir('vdisk-backup-kill-');
  const repo = join(dir, 'repo');
  await initRepository(repo);
  const raw = join(dir, 'd.raw');
  /** The source disk's bytes for each snapshot ID seen so far. */
  const expected = new Map<string, Buffer>();
  const durations = { create: 0, prune: 0, gc: 0 };
  const landed = { create: 0, prune: 0, gc: 0 };

  /**
   * The whole repository verifies, and each snapshot not seen before (it is
   * of `source`) restores to its disk. One seen before needs no restore:
   * verify proved its manifest, index and chunks unchanged.
   */
  const judge = async (source: Buffer, what: string): Promise<void> => {
    const v = await backupVerify(repo);
    assert.deepEqual(v.damage, [], `${what}: verify found damage`);
    for (const m of await (await openRepository(repo)).snapshots()) {
      if (expected.has(m.id)) continue;
      expected.set(m.id, source);
      const out = join(dir, `restore-${m.id}.raw`);
      await restoreToFile(repo, m.id, out, { outputFormat: 'raw', replace: true });
      assert.ok(readFileSync(out).equals(expected.get(m.id)!), `${what}: snapshot ${m.id} restores wrong`);
    }
  };

  /** Runs COMMAND killed at a point spread over the later half of its quickest clean run (the first half is mostly Node loading), judges, then runs it to the end and judges again. */
  const killThenFinish = async (command: keyof typeof durations, args: string[], round: number, source: Buffer): Promise<void> => {
    const at = durations[command] * (0.5 + 0.5 * ((round * 0.618034) % 1));
    const killedRun = await vdiskKilledAfter(args, durations[command] === 0 ? undefined : at);
    if (killedRun.signal === 'SIGKILL') landed[command]++;
    else assert.equal(killedRun.code, 0, `${command} round ${round} failed`);
    await judge(source, `${command} killed at ${Math.round(at)} ms in round ${round}`);
    const rerun = await vdiskKilledAfter(args);
    assert.equal(rerun.code, 0, `${command} re-run after the kill in round ${round} failed`);
    durations[command] = durations[command] === 0 ? rerun.ms : Math.min(durations[command], rerun.ms);
    await judge(source, `${command} re-run in round ${round}`);
  };

  for (let round = 0; round < ROUNDS; round++) {
    // A new disk each round: its first chunk changes, its middle one comes and goes, its last (short) one stays.
    rmSync(raw, { force: true });
    await writePatternDisk(raw, { size: 9 * MiB + 512, blockSize: MiB, fraction: round % 2 === 0 ? 1 : 0.6, seed: 1000 + round });
    const source = readFileSync(raw);
    await killThenFinish('create', ['backup', 'create', repo, raw, '--name', 'd'], round, source);
    await killThenFinish('prune', ['backup', 'prune', repo, '--keep-last', '2'], round, source);
    await killThenFinish('gc', ['backup', 'gc', repo, '--grace', '0'], round, source);
  }
  for (const [command, n] of Object.entries(landed)) assert.ok(n >= ROUNDS / 2, `only ${n} kills of ${command} landed while it ran`);
});
