import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, mkdtempSync, readdirSync, readFileSync, realpathSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

/** True when oracle tools must be present (CI): a missing one fails instead of skipping. */
export const ORACLES_REQUIRED = process.env.VDISK_REQUIRE_ORACLES === '1';

const missing = new Set((process.env.VDISK_ORACLES_MISSING ?? '').split(',').filter(Boolean));

/** True when `tool` is on PATH and not named in VDISK_ORACLES_MISSING (which tests use to play a machine without it). */
export function toolExists(tool: string): boolean {
  if (missing.has(tool)) return false;
  return spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status === 0;
}

/**
 * Returns true when every tool is there. Otherwise skips the test (naming the
 * tools), or fails it when VDISK_REQUIRE_ORACLES=1.
 */
export function needTools(t: TestContext, ...tools: string[]): boolean {
  const absent = tools.filter((x) => !toolExists(x));
  return absent.length === 0 || unavailable(t, `oracle tool(s) missing: ${absent.join(', ')}`);
}

/** Skips the test saying why, or fails it when VDISK_REQUIRE_ORACLES=1; returns false. */
function unavailable(t: TestContext, why: string): false {
  if (ORACLES_REQUIRED) throw new Error(why);
  t.skip(why);
  return false;
}

/** Runs a tool and returns its result; throws with its stderr when it exits non-zero (unless `allowFail`). */
export function run(cmd: string, args: string[], allowFail = false): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (!allowFail && r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r;
}

/** `qemu-img info --output=json` of a file. */
export function qemuInfo(path: string, format?: string): { 'virtual-size': number; format: string } {
  return JSON.parse(run('qemu-img', ['info', '--output=json', ...(format ? ['-f', format] : []), path]).stdout);
}

/** One row of ../shared/fixtures/real/EXPECTED.tsv. */
export interface RealImage {
  path: string;
  format: string;
  virtualSize: number;
  sha256: string | undefined;
  note: string;
}

/**
 * The restored real images (scripts/run-tests.mjs restores them), or
 * undefined after skipping/failing the test when they are not there.
 */
export function realImages(t: TestContext): { dir: string; images: RealImage[] } | undefined {
  const dir = process.env.VDISK_REAL_FIXTURES;
  const expected = process.env.VDISK_REAL_EXPECTED;
  if (!dir || !expected) {
    if (ORACLES_REQUIRED) throw new Error('../shared/fixtures/real is missing');
    t.skip('missing ../shared/fixtures/real');
    return undefined;
  }
  const images = readFileSync(expected, 'utf8')
    .trim()
    .split('\n')
    .slice(1)
    .map((line) => {
      const [path, format, size, sha, note] = line.split('\t');
      return { path: join(dir, path!), format: format!, virtualSize: Number(size), sha256: sha === '-' ? undefined : sha, note: note ?? '' };
    });
  return { dir, images };
}

/** sha256 (hex) of a whole file, streamed. */
export async function sha256OfFile(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 4 * 1024 * 1024 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** What `vhdiinfo` says of an image: its media size in bytes, and the whole text. */
export function vhdiinfo(path: string): { mediaSize: number; text: string } {
  const text = run('vhdiinfo', [path]).stdout;
  const m = /Media size\s*:.*\((\d+) bytes\)/.exec(text);
  if (!m) throw new Error(`vhdiinfo ${path} printed no media size:\n${text}`);
  return { mediaSize: Number(m[1]), text };
}

/** What `vmdkinfo` (libvmdk) says of a VMDK: its media size and content identifiers (CIDs as 8 hex digits). */
export function vmdkinfo(path: string): { size: number; cid: string; parentCid?: string; text: string } {
  const text = run('vmdkinfo', [path]).stdout;
  const size = /Media size\s*:.*\((\d+) bytes\)/.exec(text);
  const cid = /Content identifier:\s*0x([0-9a-f]+)/.exec(text);
  if (!size || !cid) throw new Error(`vmdkinfo ${path} printed no media size or content identifier:\n${text}`);
  const parentCid = /Parent content identifier:\s*0x([0-9a-f]+)/.exec(text)?.[1]?.padStart(8, '0');
  return { size: Number(size[1]), cid: cid[1]!.padStart(8, '0'), parentCid, text };
}

/** Runs `qemu-img check` on an image and fails unless it reports no errors and no leaks. */
export function qemuCheckClean(path: string, format: string): void {
  const r = run('qemu-img', ['check', '-f', format, path], true);
  const out = r.stdout + r.stderr;
  if (r.status !== 0 || !/No errors were found/.test(out) || /leak/i.test(out)) throw new Error(`qemu-img check ${path} exited ${r.status}:\n${out}`);
}

/** True when `dir` is a mount point now (per /proc/self/mounts, where a space is written as \040). */
function isMounted(dir: string): boolean {
  const lines = readFileSync('/proc/self/mounts', 'utf8').split('\n');
  return lines.some((l) => (l.split(' ')[1] ?? '').replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))) === dir);
}

/**
 * Mounts `image` with vhdimount (libvhdi) in a fresh directory, calls `fn`
 * with the file holding the image's guest view, and always unmounts.
 * vhdimount exposes a differencing chain base first: vhdi1 is the base,
 * vhdiN the image named. It finds a parent only by the dynamic header's
 * parent name, in the child's directory (it ignores parent locators), and
 * refuses a parent whose UUID does not match. For a VHDX it takes the parent
 * from the locator's absolute_win32_path: by its last `\\`-separated name
 * when it has one, else the whole value, joined to the directory part of
 * `image` as given. `cwd` runs it elsewhere (then `image` may be a bare name).
 */
export async function withVhdimount<T>(image: string, fn: (guest: string, layers: string[]) => Promise<T>, cwd?: string): Promise<T> {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'vdisk-vhdimount-')));
  try {
    const r = spawnSync('vhdimount', [image, dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000, cwd });
    if (r.status !== 0 || !isMounted(dir)) throw new Error(`vhdimount ${image} exited ${r.status}: ${r.stderr}`);
    const layers = readdirSync(dir)
      .filter((n) => /^vhdi\d+$/.test(n))
      .sort((a, b) => Number(a.slice(4)) - Number(b.slice(4)))
      .map((n) => join(dir, n));
    if (layers.length === 0) throw new Error(`vhdimount ${image} exposed no vhdiN file`);
    return await fn(layers[layers.length - 1]!, layers);
  } finally {
    if (isMounted(dir)) spawnSync('fusermount3', ['-u', dir], { stdio: 'ignore' });
    if (isMounted(dir)) spawnSync('umount', ['-l', dir], { stdio: 'ignore' });
    rmdirSync(dir);
  }
}

/**
 * True when the test runs as root (it mounts a tmpfs or attaches a loop
 * device). Otherwise skips it, or fails it when VDISK_REQUIRE_ORACLES=1 (CI
 * runs as root).
 */
export function needRoot(t: TestContext, why: string): boolean {
  return process.getuid?.() === 0 || unavailable(t, `needs root: ${why}`);
}
