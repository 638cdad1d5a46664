/**
 * METADATA_BUDGET (src/limits.ts, src/util/metadata-budget.ts): the tables
 * of one image file together stay under it even when each passes its own
 * limit (a qcow2 L1 and snapshot table, a VHDX BAT and pending log), and big
 * legitimate images (a 2 TiB qcow2 from qemu-img, a 64 TiB VHDX) still open.
 */
import assert from 'node:assert/strict';
import { closeSync, ftruncateSync, openSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createImage, openImage } from '../src/formats/registry.js';
import { encodeLogEntry } from '../src/formats/vhdx/log-entry.js';
import { METADATA_BUDGET, QCOW2_MAX_L1_BYTES, QCOW2_MAX_SNAPSHOT_TABLE_BYTES, VHDX_MAX_BAT_ENTRIES, VHDX_MAX_LOG_LENGTH } from '../src/limits.js';
import { MetadataBudget } from '../src/util/metadata-budget.js';
import { randomUuid } from '../src/util/uuid.js';
import { rejectsWithCode, throwsWithCode } from './helpers/assert-error.js';
import { needTools, run } from './helpers/oracles.js';
import { QFIELD } from './helpers/qcow2.js';
import { tempDir } from './helpers/tmp.js';
import { placeEntry } from './helpers/vhdx-log.js';
import { createVhdx, patchHeader } from './helpers/vhdx.js';

const MiB = 1024 * 1024;
const BUDGET_ERROR = /would bring the metadata held for this image to \d+ bytes, more than 83886080 \(vdisk limit METADATA_BUDGET = 83886080; it cannot be raised\)/;

/** Writes each [offset, bytes] into the file at `path`, then sets its size to `size` (sparse). */
function patchFile(path: string, writes: [number, Uint8Array][], size: number): void {
  const fd = openSync(path, 'r+');
  try {
    for (const [at, bytes] of writes) writeSync(fd, bytes, 0, bytes.length, at);
    ftruncateSync(fd, size);
  } finally {
    closeSync(fd);
  }
}

/** `value` as a big-endian integer of `width` bytes. */
function be(width: 2 | 4 | 8, value: number): Uint8Array {
  const b = Buffer.alloc(width);
  if (width === 2) b.writeUInt16BE(value);
  else if (width === 4) b.writeUInt32BE(value);
  else b.writeBigUInt64BE(BigInt(value));
  return b;
}

/** Opens and closes `path`; returns the warnings of the open. */
async function opens(path: string): Promise<string[]> {
  const image = await openImage(path);
  const warnings = [...image.warnings];
  await image.close();
  return warnings;
}

/** Bytes of one qcow2 snapshot entry with the longest ID and name (u16 sizes), padded to 8 ("Snapshots"). */
const SNAPSHOT_ENTRY = Math.ceil((40 + 2 * 0xffff) / 8) * 8;

/**
 * A 64 MiB qcow2 vdisk wrote, then given a 32 MiB L1 table (QCOW2_MAX_L1_BYTES)
 * at 16 MiB when `l1`, and a snapshot table just under
 * QCOW2_MAX_SNAPSHOT_TABLE_BYTES after it when `snapshots`: entries of the
 * longest ID and name, their bytes zeros.
 */
async function hostileQcow2(path: string, l1: boolean, snapshots: boolean): Promise<void> {
  await (await createImage(path, 'qcow2', { virtualSize: 64 * MiB, options: {} })).close();
  const l1At = 16 * MiB;
  const snapAt = l1At + QCOW2_MAX_L1_BYTES;
  const count = Math.floor(QCOW2_MAX_SNAPSHOT_TABLE_BYTES / SNAPSHOT_ENTRY);
  const writes: [number, Uint8Array][] = [];
  if (l1) writes.push([QFIELD.l1Size, be(4, QCOW2_MAX_L1_BYTES / 8)], [QFIELD.l1Offset, be(8, l1At)]);
  if (snapshots) {
    writes.push([QFIELD.nbSnapshots, be(4, count)], [QFIELD.snapshotsOffset, be(8, snapAt)]);
    for (let i = 0; i < count; i++) writes.push([snapAt + i * SNAPSHOT_ENTRY + 12, Uint8Array.of(0xff, 0xff, 0xff, 0xff)]);
  }
  patchFile(path, writes, snapAt + count * SNAPSHOT_ENTRY);
}

/**
 * A VHDX of 1 MiB blocks vdisk wrote, `blocks` of them, given when `log` a
 * VHDX_MAX_LOG_LENGTH log past its end holding one pending entry (which
 * zeroes 4 KiB past the old end), named by both headers.
 */
async function vhdxWithLog(path: string, blocks: number, log: boolean): Promise<void> {
  await (await createVhdx(path, blocks * MiB)).close();
  if (!log) return;
  const gap = Math.ceil(statSync(path).size / MiB) * MiB;
  const logOffset = gap + MiB;
  const size = logOffset + VHDX_MAX_LOG_LENGTH;
  patchFile(path, [], size);
  const logGuid = randomUuid();
  const entry = encodeLogEntry({ logGuid, sequenceNumber: 1n, tail: 0, flushedFileOffset: size, lastFileOffset: size, writes: [], zeroes: [{ offset: gap, length: 4096 }] });
  placeEntry(path, 0, entry, logOffset, VHDX_MAX_LOG_LENGTH);
  for (const slot of [0, 1]) patchHeader(path, slot, (f) => ({ ...f, logGuid, logOffset: BigInt(logOffset), logLength: VHDX_MAX_LOG_LENGTH }));
}

describe('MetadataBudget', () => {
  it('charges up to METADATA_BUDGET, refuses past it naming the limit, and releases', async () => {
    const budget = new MetadataBudget('x.img');
    budget.charge(METADATA_BUDGET - 10, 'table A');
    const err = throwsWithCode(() => budget.charge(11, 'table B'), 'UNSUPPORTED');
    assert.match(err.message, /^x\.img: table B of 11 bytes /);
    assert.match(err.message, BUDGET_ERROR);
    assert.equal(budget.used, METADATA_BUDGET - 10, 'a refused charge is not kept');
    await budget.transient(async () => budget.charge(10, 'table C'));
    assert.equal(budget.used, METADATA_BUDGET - 10, 'what a transient operation charged is released');
    budget.release(METADATA_BUDGET - 10);
    budget.charge(METADATA_BUDGET, 'table D');
    assert.equal(budget.used, METADATA_BUDGET);
  });
});

describe('METADATA_BUDGET on hostile images', () => {
  it('a qcow2 whose L1 table and snapshot table each pass their own limit but together pass the budget', async () => {
    const dir = tempDir();
    const both = join(dir, 'both.qcow2');
    await hostileQcow2(both, true, true);
    assert.match((await rejectsWithCode(openImage(both), 'UNSUPPORTED')).message, BUDGET_ERROR);
    for (const [name, l1, snapshots] of [['l1.qcow2', true, false], ['snapshots.qcow2', false, true]] as const) {
      await hostileQcow2(join(dir, name), l1, snapshots);
      await opens(join(dir, name));
    }
  });

  it('a VHDX whose BAT and pending log each pass their own limit but together pass the budget', async () => {
    const dir = tempDir();
    const big = VHDX_MAX_BAT_ENTRIES - 4096;
    await vhdxWithLog(join(dir, 'both.vhdx'), big, true);
    assert.match((await rejectsWithCode(openImage(join(dir, 'both.vhdx')), 'UNSUPPORTED')).message, BUDGET_ERROR);
    await vhdxWithLog(join(dir, 'bat.vhdx'), big, false);
    await opens(join(dir, 'bat.vhdx'));
    await vhdxWithLog(join(dir, 'log.vhdx'), 64, true);
    assert.ok((await opens(join(dir, 'log.vhdx'))).some((w) => /applied 1 pending log entry in memory/.test(w)));
  });
});

describe('big legitimate images stay under METADATA_BUDGET', () => {
  it('a 2 TiB qcow2 made by qemu-img opens and checks', async (t) => {
    if (!needTools(t, 'qemu-img')) return;
    const path = join(tempDir(), 'big.qcow2');
    run('qemu-img', ['create', '-q', '-f', 'qcow2', path, '2T']);
    const image = await openImage(path);
    try {
      assert.equal(image.virtualSize, 2 ** 41);
      assert.deepEqual(await image.layer.check(), []);
    } finally {
      await image.close();
    }
  });

  it('a 64 TiB VHDX of 32 MiB blocks opens', async () => {
    const path = join(tempDir(), 'big.vhdx');
    await (await createImage(path, 'vhdx', { virtualSize: 2 ** 46, options: { block_size: '32M' } })).close();
    const image = await openImage(path);
    assert.equal(image.virtualSize, 2 ** 46);
    await image.close();
  });
});
