import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DiskFile } from '../../src/io/file.js';
import type { TestContext } from 'node:test';
import { vdisk } from './cli.js';
import { needTools, run } from './oracles.js';
import { fillPattern, writePatternDisk } from './pattern-disk.js';

const MiB = 1024 * 1024;
/** The size of the disk `sourceDisk` makes: not a multiple of the 4 MiB chunk, nor of 64 KiB. */
export const SOURCE_SIZE = 37 * MiB + 1536;

/** Output formats restore is checked with, and qemu-img's name for each. */
const RESTORE_OUTPUTS: [string, string][] = [
  ['raw', 'raw'],
  ['vhd', 'vpc'],
  ['vhdx', 'vhdx'],
  ['vmdk', 'vmdk'],
  ['qcow2', 'qcow2'],
  ['vdi', 'vdi'],
];

/** Runs `vdisk ARGS` and asserts it succeeds; returns stdout. */
export function ok(...args: string[]): string {
  const r = vdisk(...args);
  assert.equal(r.status, 0, `vdisk ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** The counts of `backup create`'s summary line. */
export function summary(stdout: string): { total: number; new: number; reused: number; zero: number; stored: number } {
  const m = /(\d+) chunks, (\d+) new, (\d+) reused, (\d+) zero; (\d+) bytes stored/.exec(stdout);
  assert.ok(m, `no summary in ${stdout}`);
  const [total, added, reused, zero, stored] = m.slice(1).map(Number) as [number, number, number, number, number];
  return { total, new: added, reused, zero, stored };
}

/** Writes a pattern block of `length` bytes at `offset` of the raw file `path`. */
export async function writeBlock(path: string, offset: number, length: number, seed: number): Promise<void> {
  const file = await DiskFile.open(path, 'write');
  try {
    const buf = new Uint8Array(length);
    fillPattern(buf, offset, seed);
    await file.write(buf, offset);
    await file.sync();
  } finally {
    await file.close();
  }
}

/** A pattern disk of SOURCE_SIZE bytes in `dir` with data in its first and last sectors, as raw and as a dynamic VHD. */
export async function sourceDisk(dir: string): Promise<{ raw: string; vhd: string }> {
  const raw = join(dir, 'src.raw');
  await writePatternDisk(raw, { size: SOURCE_SIZE, blockSize: MiB, fraction: 0.15 });
  await writeBlock(raw, 0, 4096, 0x5eed);
  await writeBlock(raw, SOURCE_SIZE - 4096, 4096, 0x5eed);
  const vhd = join(dir, 'src.vhd');
  ok('convert', '-O', 'vhd', '-o', 'subformat=dynamic', raw, vhd);
  return { raw, vhd };
}

/**
 * Restores snapshot `ref` of `repo` to `dir` as every writable format and checks each equals
 * the source: with `vdisk compare` against the VHD, and with
 * `qemu-img compare` against the raw file when qemu-img is there.
 */
export function checkRestores(t: TestContext, repo: string, ref: string, source: { raw: string; vhd: string }, dir: string): void {
  const qemu = needTools(t, 'qemu-img');
  for (const [format, qemuFormat] of RESTORE_OUTPUTS) {
    const out = join(dir, `restored.${format}`);
    ok('backup', 'restore', repo, ref, '-O', format, out);
    assert.match(ok('compare', source.vhd, out), /Images are identical/, format);
    if (qemu) run('qemu-img', ['compare', '-f', 'raw', '-F', qemuFormat, source.raw, out]);
  }
}
