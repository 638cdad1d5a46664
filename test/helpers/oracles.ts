import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

/** True when oracle tools must be present (CI): a missing one fails instead of skipping. */
export const ORACLES_REQUIRED = process.env.VDISK_REQUIRE_ORACLES === '1';

const missing = new Set((process.env.VDISK_ORACLES_MISSING ?? '').split(',').filter(Boolean));

function toolExists(tool: string): boolean {
  if (missing.has(tool)) return false;
  return spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status === 0;
}

/**
 * Returns true when every tool is there. Otherwise skips the test (naming the
 * tools), or fails it when VDISK_REQUIRE_ORACLES=1.
 */
export function needTools(t: TestContext, ...tools: string[]): boolean {
  const absent = tools.filter((x) => !toolExists(x));
  if (absent.length === 0) return true;
  if (ORACLES_REQUIRED) throw new Error(`oracle tool(s) missing: ${absent.join(', ')}`);
  t.skip(`missing ${absent.join(', ')}`);
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
