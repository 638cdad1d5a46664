import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { manifestName } from '../../src/backup/layout.js';
import { openRepository } from '../../src/backup/repository.js';
import { REPO_ROOT, vdiskAsync, type CliResult } from './cli.js';
import { ok, writeBlock } from './backup-cli.js';
import { writePatternDisk } from './pattern-disk.js';

const MiB = 1024 * 1024;

/** Runs `vdisk ARGS`; `started` resolves at its first line on stderr (its first progress report), `done` when it exits. */
function backupReporting(args: string[]): { started: Promise<void>; done: Promise<CliResult> } {
  const child = spawn(process.execPath, [join(REPO_ROOT, 'bin', 'vdisk.js'), ...args]);
  let stderr = '';
  let stdout = '';
  let reported: () => void = () => undefined;
  const started = new Promise<void>((resolve) => (reported = resolve));
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
    if (stderr.includes('\n')) reported();
  });
  const done = new Promise<CliResult>((resolve) => child.on('close', (code) => (reported(), resolve({ status: code ?? -1, stdout, stderr }))));
  return { started, done };
}

/**
 * The race of issue 18's "Concurrency" point, in `rounds` rounds on the
 * repository at `repo`, with a disk of `sizeMiB` (large enough that the
 * backup outlasts the start of a gc) (a directory or s3://, the CLI reaching it through
 * the environment): a disk is backed up as 'old' and that snapshot's
 * manifest removed, so every chunk of the disk is garbage older than a zero
 * grace period. Its second half is rewritten, and `backup create` of the
 * disk starts: it finds the first half's chunks and reuses them, then
 * stores the second half's. Once it reports its first progress,
 * when it has begun to reuse them, `backup gc --grace 0` runs over and over
 * until the backup ends: without the lease the first gc would delete
 * chunks the backup has counted on. Afterwards the repository must verify and the new snapshot restore
 * to the disk. Returns how many gc runs said they waited for the backup
 * (the caller checks the two did meet).
 */
export async function raceBackupWithGc(repo: string, dir: string, rounds: number, sizeMiB: number): Promise<number> {
  let waits = 0;
  for (let round = 0; round < rounds; round++) {
    const raw = join(dir, `race-${round}.raw`);
    await writePatternDisk(raw, { size: sizeMiB * MiB, blockSize: MiB, fraction: 1, seed: 500 + round });
    const old = ok('backup', 'create', repo, raw, '--name', `old${round}`);
    const id = /^Snapshot (\S+) /.exec(old)![1]!;
    await (await openRepository(repo)).store.delete(manifestName(id));
    await writeBlock(raw, (sizeMiB / 2) * MiB, (sizeMiB / 2) * MiB, 900 + round);
    let backupDone = false;
    const backup = backupReporting(['backup', 'create', repo, raw, '--name', `new${round}`, '--progress=json']);
    await backup.started;
    void backup.done.finally(() => (backupDone = true));
    const gcs: CliResult[] = [];
    do gcs.push(await vdiskAsync('backup', 'gc', repo, '--grace', '0'));
    while (!backupDone);
    const made = await backup.done;
    assert.equal(made.status, 0, made.stderr);
    for (const gc of gcs) assert.equal(gc.status, 0, gc.stderr);
    waits += gcs.filter((gc) => /waiting for running backup/.test(gc.stderr)).length;
    const verify = ok('backup', 'verify', repo);
    assert.match(verify, /no damage/);
    const out = join(dir, `race-${round}-out.raw`);
    ok('backup', 'restore', repo, `new${round}`, '-O', 'raw', out);
    assert.ok(readFileSync(out).equals(readFileSync(raw)), `round ${round}: the snapshot taken alongside gc restores wrong`);
    rmSync(out);
  }
  return waits;
}
