import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { openImage } from '../../../src/formats/registry.js';
import { HEADER_OFFSETS, MiB } from '../../../src/formats/vhdx/constants.js';
import { decodeHeader, encodeHeader } from '../../../src/formats/vhdx/header.js';
import { encodeLogEntry } from '../../../src/formats/vhdx/log-entry.js';
import { check } from '../../../src/ops/check.js';
import { convert } from '../../../src/ops/convert.js';
import { fillPattern, writePatternDisk } from '../../helpers/pattern-disk.js';
import { randomUuid } from '../../../src/util/uuid.js';
import { readAll } from '../../helpers/images.js';
import { needTools, run } from '../../helpers/oracles.js';
import { tempDir } from '../../helpers/tmp.js';

const SIZE = 8 * MiB;

/** Guest view of a file as vdisk reads it, and the warnings of the open. */
async function view(path: string): Promise<{ bytes: Buffer; warnings: string[] }> {
  const image = await openImage(path);
  try {
    return { bytes: Buffer.from(await readAll(image)), warnings: [...image.warnings] };
  } finally {
    await image.close();
  }
}

/**
 * Makes a VHDX vdisk wrote look like one Hyper-V left with a pending log: one
 * entry that rewrites a 4 KiB sector of the first block and zeroes the next
 * 8 KiB, and a current header naming the log. Returns the guest offset and
 * the sector's new bytes.
 */
async function withPendingLog(path: string): Promise<{ guestOffset: number; data: Uint8Array }> {
  const image = await openImage(path);
  const layout = (image.layer as unknown as { layout: { bat: { offsetsMb: Float64Array }; header: { slot: number } } }).layout;
  const blockAt = layout.bat.offsetsMb[0]! * MiB;
  const slot = layout.header.slot;
  await image.close();
  const file = readFileSync(path);
  const data = new Uint8Array(4096);
  fillPattern(data, 0, 0x106);
  const logGuid = randomUuid();
  const entry = encodeLogEntry({
    logGuid,
    sequenceNumber: 7n,
    tail: 0,
    flushedFileOffset: file.length,
    lastFileOffset: file.length,
    writes: [{ offset: blockAt + 65536, data }],
    zeroes: [{ offset: blockAt + 65536 + 4096, length: 8192 }],
  });
  entry.forEach((b, i) => (file[MiB + i] = b));
  const h = decodeHeader(file.subarray(HEADER_OFFSETS[slot]!, HEADER_OFFSETS[slot]! + 4096), slot)!;
  const other = 1 - slot;
  Buffer.from(encodeHeader({ ...h.fields, sequenceNumber: h.sequenceNumber + 1n, logGuid })).copy(file, HEADER_OFFSETS[other]!);
  writeFileSync(path, file);
  return { guestOffset: 65536, data };
}

test('a VHDX with a pending log reads with the log applied, unchanged on disk; repair replays it in place', async () => {
  const dir = tempDir();
  const raw = join(dir, 'src.raw');
  await writePatternDisk(raw, { size: SIZE, blockSize: MiB, fraction: 1 });
  const path = join(dir, 'disk.vhdx');
  await convert(raw, path, { outputFormat: 'vhdx', options: { block_size: '1M' } });
  const before = await view(path);
  const { guestOffset, data } = await withPendingLog(path);
  const onDisk = readFileSync(path);

  const replayed = await view(path);
  assert.ok(replayed.warnings.some((w) => /pending log/.test(w)), replayed.warnings.join('\n'));
  const expected = Buffer.from(before.bytes);
  expected.set(data, guestOffset);
  expected.fill(0, guestOffset + 4096, guestOffset + 12288);
  assert.deepEqual(replayed.bytes, expected, 'the log is applied to the guest view');
  assert.deepEqual(readFileSync(path), onDisk, 'a read-only open never changes the file');
  await assert.rejects(openImage(path, { writable: true }), /check --repair/);

  const report = await check(path);
  assert.equal(report.result, 'corruption');
  assert.ok(report.findings.some((f) => f.code === 'LOG_PENDING'));
  const fixed = await check(path, { repair: true });
  assert.equal(fixed.result, 'clean', JSON.stringify(fixed.findings));
  assert.match(fixed.repaired.join(';'), /replayed 1 log entry/);
  const after = await view(path);
  assert.deepEqual(after.bytes, expected);
  assert.deepEqual(after.warnings, []);
});

test('qemu-img check -r all replays the same log to the same guest view', async (t) => {
  if (!needTools(t, 'qemu-img')) return;
  const dir = tempDir();
  const raw = join(dir, 'src.raw');
  await writePatternDisk(raw, { size: SIZE, blockSize: MiB, fraction: 1 });
  const path = join(dir, 'disk.vhdx');
  await convert(raw, path, { outputFormat: 'vhdx', options: { block_size: '1M' } });
  await withPendingLog(path);
  const ours = await view(path);
  const theirs = join(dir, 'qemu.vhdx');
  copyFileSync(path, theirs);
  run('qemu-img', ['check', '-f', 'vhdx', '-r', 'all', theirs]);
  const out = join(dir, 'qemu.raw');
  run('qemu-img', ['convert', '-f', 'vhdx', '-O', 'raw', theirs, out]);
  assert.deepEqual(readFileSync(out), ours.bytes);
});
