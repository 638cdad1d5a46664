/**
 * NBD serving case of the benchmark (issue 17): `nbdcopy` from `vdisk serve`
 * against `nbdcopy` from `qemu-nbd`, both serving the same image read-only
 * on a Unix socket: the dynamic VHD (vdisk's output of the raw→vhd dynamic
 * pair, qemu-nbd -f vpc) and a qcow2 of the same disk (written by
 * `qemu-img convert -O qcow2`, qemu-nbd -f qcow2).
 *
 * Both servers start once, before the runs, and stay up across them (qemu-nbd
 * with -t, persistent, and -e 16 so that nbdcopy's parallel connections are
 * let in; its file locking is off, since vdisk's shared lock on the whole
 * file fails qemu's byte-range permission probes). Each timed run is `nbdcopy URI null:`: the client reads every
 * extent block status reports as data and throws it away, so the time is the
 * server's reading and sending, not a destination's writing. vdisk and
 * qemu-nbd runs are interleaved (timeRotations); in the cold table the VHD is
 * dropped from the page cache before every run, in the warm one it stays.
 * After the runs, `qemu-img compare` of the two exports checks that they
 * serve the same guest view.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CacheState } from './args.js';
import { dropFromCache } from './page-cache.js';
import { formatTable, type ToolResult, toolResult } from './report.js';
import { runChecked, runShell, shellJoin, timeRotations } from './timing.js';

/** One table of the serve case: nbdcopy from each server, one source, one cache state. */
export interface ServeTable {
  /** The served image's format ('vhd', 'qcow2'). */
  source: string;
  cache: CacheState;
  tools: ToolResult[];
  /** vdisk serve median / qemu-nbd median. */
  ratioQemuNbd: number;
  /** vdisk serve best / qemu-nbd best. */
  bestRatioQemuNbd: number;
  /** Peak RSS of the vdisk serve process over all its runs, in MiB (VmHWM). */
  serverPeakRssMiB: number;
}

/** The serve case's results. */
export interface ServeCaseResult {
  tables: ServeTable[];
  /** Per source, the qemu-img compare of the two exports, and what it said. */
  verifiedWith: string[];
}

/** An image both servers serve: its name in the table, its path, and qemu's driver for it. */
export interface ServeSource {
  name: string;
  path: string;
  driver: string;
}

/** What the serve case needs from run.ts. */
export interface ServeCaseInput {
  sources: ServeSource[];
  dir: string;
  vdiskBin: string;
  runs: number;
  caches: CacheState[];
  log: (text: string) => void;
  checkInterrupted: () => void;
}

/** True when nbdcopy and qemu-nbd are installed (the case is skipped, with a line saying so, otherwise). */
export function serveToolsPresent(): boolean {
  return runShell('command -v nbdcopy && command -v qemu-nbd').status === 0;
}

/** Starts a server process and waits until its socket accepts (up to 20 s). */
async function startServer(cmd: string, args: string[], socket: string): Promise<ChildProcess> {
  const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  for (let waited = 0; waited < 20_000; waited += 100) {
    if (existsSync(socket) && runShell(shellJoin(['nbdinfo', '--size', `nbd+unix:///?socket=${socket}`])).status === 0) return child;
    if (child.exitCode !== null) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  child.kill('SIGKILL');
  throw new Error(`bench: ${cmd} did not start serving on ${socket}`);
}

/** Stops a server with SIGTERM and waits for it. */
function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

/** Peak resident size of a process in MiB (VmHWM). */
function peakRssMiB(pid: number): number {
  const m = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** Times nbdcopy from vdisk serve and from qemu-nbd on each source, one table per source and cache state. */
export async function runServeCase(input: ServeCaseInput): Promise<ServeCaseResult> {
  const result: ServeCaseResult = { tables: [], verifiedWith: [] };
  for (const source of input.sources) {
    const { tables, verifiedWith } = await serveOne(source, input);
    result.tables.push(...tables);
    result.verifiedWith.push(verifiedWith);
  }
  return result;
}

/** Starts both servers on one source, times nbdcopy from each per cache state, compares the two exports, stops them. */
async function serveOne(source: ServeSource, input: ServeCaseInput): Promise<{ tables: ServeTable[]; verifiedWith: string }> {
  const { dir, vdiskBin, runs, caches, log, checkInterrupted } = input;
  const vdiskSocket = join(dir, 'vdisk.sock');
  const qemuSocket = join(dir, 'qemu-nbd.sock');
  const servers = [
    { tool: 'vdisk serve' as const, uri: `nbd+unix:///?socket=${vdiskSocket}` },
    { tool: 'qemu-nbd' as const, uri: `nbd+unix:///?socket=${qemuSocket}` },
  ];
  log(`serve: starting vdisk serve and qemu-nbd -f ${source.driver} on ${source.path}`);
  const vdisk = await startServer(process.execPath, [vdiskBin, 'serve', '-s', vdiskSocket, source.path], vdiskSocket);
  let qemu: ChildProcess | undefined;
  try {
    const image = `driver=${source.driver},file.driver=file,file.filename=${source.path.replaceAll(',', ',,')},file.locking=off`;
    qemu = await startServer('qemu-nbd', ['-r', '-t', '-e', '16', '-k', qemuSocket, '--image-opts', image], qemuSocket);
    const tables: ServeTable[] = [];
    for (const cache of caches) {
      const { seconds, rss } = timeRotations(runs, join(dir, 'rss.txt'), {
        label: `nbdcopy ${source.name} (${cache})`,
        tools: servers,
        log,
        prepare: (i) => {
          checkInterrupted();
          if (cache === 'cold') dropFromCache(source.path);
          return ['nbdcopy', servers[i]!.uri, 'null:'];
        },
      });
      const tools = servers.map((s, i) => toolResult(s.tool, shellJoin(['nbdcopy', s.uri, 'null:']), seconds[i]!, rss[i]!));
      tables.push({
        source: source.name,
        cache,
        tools,
        ratioQemuNbd: tools[0]!.medianSeconds / tools[1]!.medianSeconds,
        bestRatioQemuNbd: tools[0]!.bestSeconds / tools[1]!.bestSeconds,
        serverPeakRssMiB: peakRssMiB(vdisk.pid!),
      });
    }
    const check = shellJoin(['qemu-img', 'compare', '-f', 'raw', '-F', 'raw', servers[0]!.uri, servers[1]!.uri]);
    log(`  checking: ${check}`);
    return { tables, verifiedWith: `${source.name}: ${check}: ${runChecked(check).trim()}` };
  } finally {
    if (qemu) await stopServer(qemu);
    await stopServer(vdisk);
  }
}

/** The serve table(s): medians of nbdcopy from each server, the ratio, the server's peak RSS. */
export function formatServe(c: ServeCaseResult, runs: number): string[] {
  const rows = [['serve (nbdcopy URI null:)', 'vdisk serve s', 'qemu-nbd s', 'vdisk/qemu-nbd', 'best', 'vdisk serve RSS MiB']];
  for (const t of c.tables) {
    rows.push([`${t.source}, ${t.cache}`, t.tools[0]!.medianSeconds.toFixed(3), t.tools[1]!.medianSeconds.toFixed(3), t.ratioQemuNbd.toFixed(2), t.bestRatioQemuNbd.toFixed(2), t.serverPeakRssMiB.toFixed(1)]);
  }
  return [`serve: nbdcopy from vdisk serve vs from qemu-nbd -r (-f vpc, -f qcow2), the same image on a Unix socket, median of ${runs}+ runs in rotation`, ...formatTable(rows)];
}
