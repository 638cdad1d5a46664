import { spawn, spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (dist/test/helpers -> ../../..). */
export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** Result of one CLI run. */
export interface CliResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** Runs `vdisk ARGS` (the compiled bin) and returns its exit code and output. */
export function vdisk(...args: string[]): CliResult {
  return vdiskIn(undefined, ...args);
}

/** Runs `vdisk ARGS` in directory `cwd` (so relative names print as given), as `vdisk` does. */
export function vdiskIn(cwd: string | undefined, ...args: string[]): CliResult {
  const r = spawnSync(process.execPath, [join(REPO_ROOT, 'bin', 'vdisk.js'), ...args], { cwd, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Runs `vdisk ARGS` without blocking this process (for tests that serve it from here, such as an HTTP server). */
export function vdiskAsync(...args: string[]): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(REPO_ROOT, 'bin', 'vdisk.js'), ...args]);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ status: code ?? -1, stdout, stderr }));
  });
}

/** Runs `vdisk ARGS` with no output kept, killed with SIGKILL after `killAfterMs` when given; resolves to how it ended and how long it ran. */
export function vdiskKilledAfter(args: string[], killAfterMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, [join(REPO_ROOT, 'bin', 'vdisk.js'), ...args], { stdio: 'ignore' });
    const timer = killAfterMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, ms: Date.now() - t0 });
    });
  });
}
