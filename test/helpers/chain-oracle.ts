import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { buildChain, viewOf, type ChainFormat, type LayerWrites } from './chain.js';
import { vdisk } from './cli.js';
import { needTools, qemuCheckClean, run } from './oracles.js';
import { tempDir } from './tmp.js';

const MiB = 1024 * 1024;

/** Three layers over a 16 MiB disk: whole megabytes, 4 KiB pieces, explicit zeros and an unaligned run. */
const LAYERS: LayerWrites[] = [
  [[0, 3 * MiB, 1], [8 * MiB, 2 * MiB, 2]],
  [[MiB + 4096, 8192, 3], [5 * MiB, MiB, 4], [9 * MiB, 4096, 0]],
  [[100, 3000, 5], [8 * MiB + 12345, 70000, 6], [16 * MiB - 4096, 4096, 7]],
];

/**
 * Builds a 3-layer chain of `format`, rebases the top onto the base with the
 * CLI (the view kept; `info --chain` names the base in `parentField`), then
 * commits the top into the base (both keep the view, the base checks clean);
 * qemu-img checks both clean and compares them with the expected view, with
 * qemu's name for the format, `qemuFormat`.
 */
export async function rebaseThenCommit(t: TestContext, format: ChainFormat, parentField: string, qemuFormat: string = format): Promise<void> {
  const dir = tempDir(`vdisk-${format}-chain-`);
  const [base, , top] = await buildChain(dir, 16 * MiB, LAYERS, format);
  const expected = await viewOf(top!);
  const r = vdisk('rebase', '-b', base!, top!);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(await viewOf(top!), expected);
  const chain = JSON.parse(vdisk('info', '--chain', '--json', top!).stdout) as { filename: string; formatSpecific: Record<string, unknown> }[];
  assert.deepEqual(chain.map((l) => l.filename), [top, base]);
  assert.equal(chain[0]!.formatSpecific[parentField], `base.${format}`);
  const c = vdisk('commit', top!);
  assert.equal(c.status, 0, c.stderr);
  assert.deepEqual(await viewOf(base!), expected, 'the base now holds the view');
  assert.deepEqual(await viewOf(top!), expected, 'the child still reads the same');
  assert.equal(vdisk('check', base!).status, 0);
  if (!needTools(t, 'qemu-img')) return;
  const raw = join(dir, 'expected.raw');
  writeFileSync(raw, expected);
  for (const path of [top!, base!]) {
    qemuCheckClean(path, qemuFormat);
    run('qemu-img', ['compare', '-f', 'raw', '-F', qemuFormat, raw, path]);
  }
}
