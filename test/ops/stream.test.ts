import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { check } from '../../src/ops/check.js';
import { compare } from '../../src/ops/compare.js';
import { convert } from '../../src/ops/convert.js';
import { measure } from '../../src/ops/measure.js';
import { writePatternDisk } from '../helpers/pattern-disk.js';
import { REPO_ROOT } from '../helpers/cli.js';
import { needTools, run } from '../helpers/oracles.js';
import { tempDir } from '../helpers/tmp.js';

const MiB = 1024 * 1024;
const BIN = join(REPO_ROOT, 'bin', 'vdisk.js');

/** Runs `vdisk ARGS` with `input` on stdin; returns exit code, stdout bytes and stderr. */
function vdiskPipe(args: string[], input?: Buffer): { status: number; stdout: Buffer; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { input, maxBuffer: 512 * MiB });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: String(r.stderr) };
}

const OUTPUTS: [string, string, string[]][] = [
  ['raw', 'raw', []],
  ['vhd', 'vpc', []],
  ['vhd', 'vpc', ['-o', 'subformat=fixed']],
  ['vhdx', 'vhdx', []],
  ['vhdx', 'vhdx', ['-o', 'subformat=fixed,block_size=1M']],
  ['vdi', 'vdi', []],
  ['vdi', 'vdi', ['-o', 'subformat=fixed']],
];

/** A 40 MiB pattern disk as raw and as a dynamic VHD, in a new directory. */
async function patternSources(): Promise<{ dir: string; raw: string; vhd: string }> {
  const dir = tempDir();
  const raw = join(dir, 'src.raw');
  await writePatternDisk(raw, { size: 40 * MiB + 1536, blockSize: 256 * 1024, fraction: 0.3 });
  const vhd = join(dir, 'src.vhd');
  await convert(raw, vhd, { outputFormat: 'vhd' });
  return { dir, raw, vhd };
}

test('convert to stdout writes, in order, the image convert writes to a file', async (t) => {
  const { dir, raw, vhd } = await patternSources();
  let n = 0;
  for (const src of [raw, vhd]) {
    for (const [format, qemuFormat, extra] of OUTPUTS) {
      const r = vdiskPipe(['convert', '-O', format, ...extra, src, '-']);
      assert.equal(r.status, 0, r.stderr);
      const out = join(dir, `streamed${n++}.${format}`);
      writeFileSync(out, r.stdout);
      const what = `${src} -> ${format} ${extra.join(' ')}`;
      assert.equal((await compare(raw, out)).identical, true, what);
      assert.equal((await check(out)).result, 'clean', what);
      const options = Object.fromEntries((extra[1] ?? '').split(',').filter(Boolean).map((kv) => kv.split('=') as [string, string]));
      assert.equal(r.stdout.length, (await measure(src, format, { options })).fileSize, `${what}: same size as a file`);
      if (needTools(t, 'qemu-img')) run('qemu-img', ['compare', '-f', 'raw', '-F', qemuFormat, raw, out]);
    }
  }
});

test('stdin: raw and fixed VHD streams in; stdin to stdout into a dynamic format needs --spool', async () => {
  const dir = tempDir();
  const raw = join(dir, 'src.raw');
  await writePatternDisk(raw, { size: 24 * MiB, blockSize: 256 * 1024, fraction: 0.3 });
  const input = readFileSync(raw);
  const toFile = vdiskPipe(['convert', '-f', 'raw', '-O', 'vhdx', '-', join(dir, 'in.vhdx')], input);
  assert.equal(toFile.status, 0, toFile.stderr);
  assert.equal((await compare(raw, join(dir, 'in.vhdx'))).identical, true);
  const fixed = vdiskPipe(['convert', '-O', 'vhd', '-o', 'subformat=fixed', raw, '-']);
  const back = vdiskPipe(['convert', '-f', 'vhd', '-O', 'raw', '-', '-'], fixed.stdout);
  assert.equal(back.status, 0, back.stderr);
  assert.deepEqual(back.stdout, input);
  const refused = vdiskPipe(['convert', '-f', 'raw', '-O', 'vhdx', '-', '-'], input);
  assert.equal(refused.status, 1);
  assert.match(refused.stderr, /--spool .*\(USAGE\)/);
  const spooled = vdiskPipe(['convert', '--spool', '-f', 'raw', '-O', 'vhdx', '-', '-'], input);
  assert.equal(spooled.status, 0, spooled.stderr);
  writeFileSync(join(dir, 'spooled.vhdx'), spooled.stdout);
  assert.equal((await compare(raw, join(dir, 'spooled.vhdx'))).identical, true);
  const unprobed = vdiskPipe(['convert', '-O', 'raw', '-', join(dir, 'x.raw')], input);
  assert.equal(unprobed.status, 1);
  assert.match(unprobed.stderr, /cannot be probed/);
});

test('a reader that goes away (EPIPE) ends the conversion with one clean line and exit 1', async () => {
  const dir = tempDir();
  const raw = join(dir, 'src.raw');
  await writePatternDisk(raw, { size: 64 * MiB, blockSize: MiB, fraction: 1 });
  const script = `"${process.execPath}" "${BIN}" convert -O raw "${raw}" - 2>"${dir}/err.txt" | head -c 1000 >/dev/null; echo "\${PIPESTATUS[0]}"`;
  const r = spawnSync('bash', ['-c', script], { encoding: 'utf8' });
  assert.equal(r.stdout.trim(), '1');
  assert.equal(readFileSync(join(dir, 'err.txt'), 'utf8'), 'vdisk: the output pipe was closed before the image was complete (EPIPE) (IO)\n');
});

test('--target and --keep-uuid through pipes: the same image as through files', async () => {
  const dir = tempDir();
  const raw = join(dir, 'src.raw');
  await writePatternDisk(raw, { size: 5 * MiB + 512, blockSize: 256 * 1024, fraction: 0.5 });
  const vhd = join(dir, 'src.vhd');
  await convert(raw, vhd, { outputFormat: 'vhd' });
  const uuid = (p: string) => JSON.parse(String(vdiskPipe(['info', '--json', p]).stdout)).uuid as string;

  const azure = vdiskPipe(['convert', '--target', 'azure', raw, '-']);
  assert.equal(azure.status, 0, azure.stderr);
  const streamed = join(dir, 'azure-streamed.vhd');
  writeFileSync(streamed, azure.stdout);
  await convert(raw, join(dir, 'azure-file.vhd'), { target: 'azure' });
  assert.equal(azure.stdout.length, readFileSync(join(dir, 'azure-file.vhd')).length, 'same size as the file output (rounded to a whole MiB)');
  assert.equal(azure.stdout.length, 6 * MiB + 512);
  assert.equal(vdiskPipe(['check', '--target', 'azure', streamed]).status, 0);
  assert.equal((await compare(raw, streamed)).identical, true);

  const kept = vdiskPipe(['convert', '--keep-uuid', '-O', 'vhdx', vhd, '-']);
  assert.equal(kept.status, 0, kept.stderr);
  writeFileSync(join(dir, 'kept.vhdx'), kept.stdout);
  assert.equal(uuid(join(dir, 'kept.vhdx')), uuid(vhd));
  const fromStdin = vdiskPipe(['convert', '-f', 'vhd', '--target', 'hyperv', '-', join(dir, 'in.vhdx')], readFileSync(join(dir, 'azure-file.vhd')));
  assert.equal(fromStdin.status, 0, fromStdin.stderr);
  assert.equal(vdiskPipe(['check', '--target', 'hyperv', join(dir, 'in.vhdx')]).status, 0);
  const noFormat = vdiskPipe(['convert', raw, '-']);
  assert.equal(noFormat.status, 1);
  assert.match(noFormat.stderr, /needs -O FORMAT or --target/);
});

/**
 * Bytes that carry a fresh identity or the time on every run, per output:
 * VHD footers' time stamp and checksum (both copies; dynamic: the copy at 0),
 * VHDX's two header slots (new FileWriteGuid and DataWriteGuid, sequence),
 * VDI's uuidModify (pre-header 72 bytes, then VDIHEADER1PLUS offset 336).
 */
function maskIdentity(buf: Buffer, format: string): Buffer {
  const out = Buffer.from(buf);
  if (format === 'vdi') {
    out.fill(0, 72 + 336, 72 + 352);
    return out;
  }
  if (format === 'vhdx') {
    out.fill(0, 64 * 1024, 192 * 1024);
    return out;
  }
  for (const at of [0, out.length - 512]) {
    if (out.toString('latin1', at, at + 8) !== 'conectix') continue;
    out.fill(0, at + 24, at + 28);
    out.fill(0, at + 64, at + 68);
  }
  return out;
}

test('a pipe gets the same bytes as a file (but for time stamps and fresh GUIDs), and qemu-img reads them', async (t) => {
  const { dir, raw, vhd } = await patternSources();
  let n = 0;
  // A dynamic VDI file gets its blocks in the order the engine's concurrent writes allocate them, a piped one in guest order: both valid, not the same bytes.
  for (const [format, qemuFormat, extra] of OUTPUTS.filter(([f, , x]) => f !== 'vdi' || x.length > 0)) {
    const piped = vdiskPipe(['convert', '--keep-uuid', '-O', format, ...extra, vhd, '-']);
    assert.equal(piped.status, 0, piped.stderr);
    const file = join(dir, `file${n++}.${format}`);
    const r = vdiskPipe(['convert', '--keep-uuid', '-O', format, ...extra, vhd, file]);
    assert.equal(r.status, 0, r.stderr);
    const what = `-O ${format} ${extra.join(' ')}`;
    assert.ok(maskIdentity(piped.stdout, format).equals(maskIdentity(readFileSync(file), format)), `${what}: piped and file bytes differ`);
    if (needTools(t, 'qemu-img')) {
      const streamed = join(dir, `piped${n}.${format}`);
      writeFileSync(streamed, piped.stdout);
      run('qemu-img', ['compare', '-f', 'raw', '-F', qemuFormat, raw, streamed]);
    }
  }
});
