/**
 * `npm run fuzz` (fuzz/run.ts) as a user runs it: --help, a bad argument
 * (exit 2, one line and the usage), and a long run stopped by SIGTERM,
 * which still prints its counts.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const RUN = fileURLToPath(new URL('../../fuzz/run.js', import.meta.url));

test('--help prints the usage and exits 0; a bad argument exits 2', () => {
  const help = spawnSync(process.execPath, [RUN, '--help'], { encoding: 'utf8' });
  assert.equal(help.status, 0);
  assert.match(help.stdout, /^usage: npm run fuzz/);
  const bad = spawnSync(process.execPath, [RUN, '--format', 'floppy'], { encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /^--format must be all or one of/);
});

test('SIGTERM stops a long run after its batch, and the counts so far are printed', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vdisk-fuzz-run-'));
  try {
    const child = spawn(process.execPath, [RUN, '--format', 'vdi', '--time', '10m', '--findings', join(dir, 'findings')], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    // The seed line comes before the seeds are made; the run itself starts a moment later.
    while (!out.includes('seed ')) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 3000));
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.equal(code, 0);
    assert.match(out, /^vdi: \d+ mutants of 1 seeds in .*findings: crash 0, hang 0, memory 0 \(stopped by a signal\)$/m);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
