import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { after } from 'node:test';
import type { DiskImage, WritableDiskImage } from '../../src/formats/types.js';
import { NbdExport } from '../../src/nbd/export.js';
import { NbdServer, type NbdServerOptions } from '../../src/nbd/server.js';
import type { ServeStats } from '../../src/nbd/transmission.js';
import { REPO_ROOT } from './cli.js';

let sockets = 0;

/**
 * Starts a real NbdServer on a Unix socket in `dir` serving `exports`
 * (name -> image; writable when given as { image, writable: true }), and
 * stops it and closes the images when the test file ends.
 */
export async function startNbdServer(
  dir: string,
  exports: Record<string, DiskImage | { image: WritableDiskImage; writable: true }>,
  options: NbdServerOptions = {},
): Promise<{ server: NbdServer; socket: string; warnings: string[] }> {
  const warnings: string[] = [];
  const list = Object.entries(exports).map(([name, e]) => ('writable' in e ? new NbdExport(name, e.image, e.image) : new NbdExport(name, e)));
  const server = new NbdServer(list, { onWarning: (w) => warnings.push(w), ...options });
  const socket = join(dir, `nbd-${++sockets}.sock`);
  await server.listen({ socket });
  after(async () => {
    await server.close();
    for (const e of list) await e.image.close();
  });
  return { server, socket, warnings };
}

/** A `vdisk serve --json` (or `vdisk backup serve --json`) process that has said it is ready. */
export interface ServeProcess {
  /** Its ready line. */
  ready: { exports: { name: string; uri: string; size: number; writable: boolean; snapshot?: string }[]; port?: number };
  /** Sends SIGTERM and resolves to its exit code, its output and the counts it printed at exit. */
  stop(): Promise<{ status: number; stdout: string; stderr: string; stats?: ServeStats }>;
  /** Its process id. */
  pid: number;
  /** Kills it with SIGKILL (no clean-up). */
  kill(): void;
  /** Resolves to its exit code once it has exited. */
  exited: Promise<number>;
}

/** Starts `vdisk serve --json ARGS` and waits for its ready line (rejects with its stderr when it exits first). */
export function startServe(...args: string[]): Promise<ServeProcess> {
  return startServer('serve', '--json', ...args);
}

/** Starts `vdisk ARGS`, a serving command given --json (`serve`, `backup serve`), and waits for its ready line (rejects with its stderr when it exits first). */
export function startServer(...args: string[]): Promise<ServeProcess> {
  const child = spawn(process.execPath, [join(REPO_ROOT, 'bin', 'vdisk.js'), ...args]);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? -1)));
  after(() => void child.kill('SIGKILL'));
  return new Promise((resolve, reject) => {
    const onData = () => {
      const line = stdout.split('\n')[0];
      if (!stdout.includes('\n') || line === undefined) return;
      child.stdout.off('data', onData);
      resolve({
        ready: JSON.parse(line) as ServeProcess['ready'],
        stop: async () => {
          child.kill('SIGTERM');
          const status = await exited;
          const last = stdout.trim().split('\n').at(-1) ?? '';
          const stats = last.startsWith('{"stats"') ? (JSON.parse(last) as { stats: ServeStats }).stats : undefined;
          return { status, stdout, stderr, stats };
        },
        pid: child.pid!,
        kill: () => void child.kill('SIGKILL'),
        exited,
      });
    };
    child.stdout.on('data', onData);
    void exited.then((code) => reject(new Error(`vdisk ${args.join(' ')} exited ${code} before it was ready: ${stderr}`)));
  });
}
