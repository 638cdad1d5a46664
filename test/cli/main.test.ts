import assert from 'node:assert/strict';
import { openSync, readdirSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { writePatternDisk } from '../helpers/pattern-disk.js';
import { vdisk } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

const MiB = 1024 * 1024;
const dir = tempDir();
const raw = join(dir, 'src.raw');
await writePatternDisk(raw, { size: 16 * MiB, blockSize: MiB, fraction: 0.5 });

/** Asserts one stderr line of the form `vdisk: ... (CODE)`. */
function assertOneLineError(stderr: string, code: string): void {
  const lines = stderr.trim().split('\n').filter((l) => !l.includes('warning:'));
  assert.equal(lines.length, 1, stderr);
  assert.match(lines[0]!, new RegExp(`^vdisk: .+ \\(${code}\\)$`));
}

test('convert, info --json, map --json and compare agree', () => {
  const out = join(dir, 'a.vhd');
  assert.equal(vdisk('convert', '-O', 'vhd', raw, out).status, 0);
  const info = JSON.parse(vdisk('info', '--json', out).stdout);
  assert.equal(info.format, 'vhd');
  assert.equal(info.subformat, 'dynamic');
  assert.equal(info.virtualSize, 16 * MiB);
  assert.equal(info.formatSpecific.creatorApplication, 'win ');
  const extents = JSON.parse(vdisk('map', '--json', out).stdout) as { offset: number; length: number; kind: string }[];
  assert.equal(extents.reduce((n, e) => n + e.length, 0), 16 * MiB);
  const r = vdisk('compare', raw, out);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /identical/);
});

test('compare exits 1 with the first differing offset, 2 on error', () => {
  const other = join(dir, 'other.raw');
  assert.equal(vdisk('convert', '-O', 'raw', raw, other).status, 0);
  const fd = openSync(other, 'r+');
  writeSync(fd, Buffer.from([0xee]), 0, 1, 12345);
  closeSync(fd);
  const r = vdisk('compare', raw, other);
  assert.equal(r.status, 1);
  assert.match(r.stdout, /Content mismatch at offset 12345!/);
  const missing = vdisk('compare', raw, join(dir, 'nope.raw'));
  assert.equal(missing.status, 2);
  assertOneLineError(missing.stderr, 'IO');
});

test('errors are one line with a code and exit 1', () => {
  const tooBig = vdisk('create', '-f', 'vhd', join(dir, 'big.vhd'), '2041G');
  assert.equal(tooBig.status, 1);
  assertOneLineError(tooBig.stderr, 'OUT_OF_RANGE');
  assert.match(tooBig.stderr, /VHDX/);
  const missing = vdisk('info', join(dir, 'missing.vhd'));
  assert.equal(missing.status, 1);
  assertOneLineError(missing.stderr, 'IO');
  const badSize = vdisk('create', '-f', 'vhd', join(dir, 'x.vhd'), '12Q');
  assert.equal(badSize.status, 1);
  assertOneLineError(badSize.stderr, 'USAGE');
  const badOpt = vdisk('create', '-f', 'vhd', '-o', 'cluster_size=64K', join(dir, 'y.vhd'), '1G');
  assert.equal(badOpt.status, 1);
  assertOneLineError(badOpt.stderr, 'USAGE');
  const badCache = vdisk('convert', '-t', 'unsafe', '-O', 'raw', raw, join(dir, 'z.raw'));
  assert.equal(badCache.status, 1);
  assertOneLineError(badCache.stderr, 'USAGE');
  assert.match(badCache.stderr, /-t takes none or writeback/);
  assert.equal(vdisk('frobnicate').status, 1);
});

test('convert refuses to overwrite its source or an existing file', () => {
  const out = join(dir, 'b.vhd');
  assert.equal(vdisk('convert', '-O', 'vhd', raw, out).status, 0);
  const self = vdisk('convert', '-O', 'raw', out, out);
  assert.equal(self.status, 1);
  assertOneLineError(self.stderr, 'USAGE');
  const child = join(dir, 'b-child.vhd');
  assert.equal(vdisk('create', '-f', 'vhd', '-b', out, child).status, 0);
  const ontoParent = vdisk('convert', '-O', 'vhd', child, out);
  assert.equal(ontoParent.status, 1);
  assert.match(ontoParent.stderr, /parent of the source/);
  assert.equal(vdisk('compare', child, raw).status, 0);
  assert.ok(!readdirSync(dir).some((n) => n.includes('vdisk-tmp')), 'no temporary files left behind');
});

test('check exit codes: 0 clean, 2 corruption, 0 after --repair, 1 when it cannot check', () => {
  const img = join(dir, 'c.vhd');
  assert.equal(vdisk('convert', '-O', 'vhd', raw, img).status, 0);
  assert.equal(vdisk('check', img).status, 0);
  const fd = openSync(img, 'r+');
  // A byte of the dynamic header's unused parent name: only the header checksum breaks.
  const parentNameByte = 512 + 64 + 36;
  writeSync(fd, Buffer.from([0x41]), 0, 1, parentNameByte);
  closeSync(fd);
  const bad = vdisk('check', '--json', img);
  assert.equal(bad.status, 2, bad.stdout);
  assert.equal(JSON.parse(bad.stdout).result, 'corruption');
  const fixed = vdisk('check', '--repair', img);
  assert.equal(fixed.status, 0, fixed.stdout);
  assert.match(fixed.stdout, /repaired:/);
  assert.equal(vdisk('check', join(dir, 'none.vhd')).status, 1);
});

test('check exits 3 when the only problem is leaked space', () => {
  const img = join(dir, 'leak.vhd');
  assert.equal(vdisk('convert', '-O', 'vhd', raw, img).status, 0);
  const extents = JSON.parse(vdisk('map', '--json', img).stdout) as { offset: number; kind: string }[];
  const first = extents.find((e) => e.kind === 'data')!;
  const entry = 1536 + (first.offset / (2 * MiB)) * 4;
  const fd = openSync(img, 'r+');
  writeSync(fd, Buffer.from([0xff, 0xff, 0xff, 0xff]), 0, 4, entry);
  closeSync(fd);
  const r = vdisk('check', '--json', img);
  assert.equal(r.status, 3, r.stdout);
  assert.equal(JSON.parse(r.stdout).findings[0].code, 'LEAKED_SPACE');
});
