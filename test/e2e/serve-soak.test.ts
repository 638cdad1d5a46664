/**
 * Soak (issue 17): four nbdcopy clients copy one 1 GiB export (a dynamic
 * VHD, about half data) at the same time; every copy is exact, and the
 * server's peak resident size (VmHWM) stays under 150 MiB.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { vdisk } from '../helpers/cli.js';
import { startServe } from '../helpers/nbd-server.js';
import { needTools, sha256OfFile } from '../helpers/oracles.js';
import { writePatternDisk } from '../helpers/pattern-disk.js';
import { tempDir } from '../helpers/tmp.js';

const MiB = 1024 * 1024;
const PEAK_LIMIT = 150 * MiB;

/** The peak resident set size of a process (VmHWM in /proc/PID/status), in bytes. */
function peakRss(pid: number): number {
  const m = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  assert.ok(m, 'no VmHWM line');
  return Number(m[1]) * 1024;
}

test('four nbdcopy clients at once on a 1 GiB export: exact copies, server peak RSS under 150 MiB', { timeout: 10 * 60_000 }, async (t) => {
  if (!needTools(t, 'nbdcopy')) return;
  const dir = tempDir('vdisk-serve-soak-');
  const raw = join(dir, 'disk.raw');
  await writePatternDisk(raw, { size: 1024 * MiB, blockSize: MiB, fraction: 0.5 });
  const vhd = join(dir, 'disk.vhd');
  assert.equal(vdisk('convert', '-O', 'vhd', raw, vhd).status, 0);
  const expected = await sha256OfFile(raw);
  const served = await startServe('-s', join(dir, 'soak.sock'), vhd);
  const outputs = [1, 2, 3, 4].map((i) => join(dir, `copy${i}.raw`));
  await Promise.all(outputs.map((out) => promisify(execFile)('nbdcopy', [served.ready.exports[0]!.uri, out])));
  const peak = peakRss(served.pid);
  const stopped = await served.stop();
  assert.equal(stopped.status, 0, stopped.stderr);
  for (const out of outputs) assert.equal(await sha256OfFile(out), expected, out);
  t.diagnostic(`server peak RSS ${(peak / MiB).toFixed(1)} MiB, ${stopped.stats?.connections} connections, ${stopped.stats?.readBytes} bytes read`);
  assert.ok(peak < PEAK_LIMIT, `peak RSS ${peak} bytes`);
});
