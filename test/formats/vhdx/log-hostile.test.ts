/**
 * Hostile VHDX logs ([MS-VHDX] 2.3). A valid two-entry log is damaged one
 * field at a time, re-checksummed so that only the damaged rule can reject
 * it: an invalid entry is simply not part of a sequence (2.3.3), so the
 * result is the shorter sequence or nothing, and the reason is reported; an
 * active sequence whose updates are impossible, or a log region that cannot
 * be, is a DiskImageError. Then logs built to make the search slow or big,
 * and random damage: never another exception, never a hang.
 */
import assert from 'node:assert/strict';
import { readFileSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DiskImageError, type ErrorCode } from '../../../src/errors.js';
import { DiskFile } from '../../../src/io/file.js';
import { readActiveLog } from '../../../src/formats/vhdx/log.js';
import type { LogReplay } from '../../../src/formats/vhdx/log-updates.js';
import { replayLogInPlace } from '../../../src/formats/vhdx/log-replay.js';
import { ReplayedFile } from '../../../src/formats/vhdx/replayed-file.js';
import { rejectsWithCode } from '../../helpers/assert-error.js';
import { prng } from '../../helpers/prng.js';
import { tempDir } from '../../helpers/tmp.js';
import {
  FILE_SIZE,
  GUID,
  LOG_LENGTH,
  LOG_OFFSET,
  MiB,
  MemoryFile,
  OTHER_GUID,
  SECTOR,
  makeLogFile,
  placeEntry,
  placeSequence,
  rechecksum,
  sector,
  type EntrySpec,
} from '../../helpers/vhdx-log.js';

const dir = tempDir();
let files = 0;
const D = 2 * MiB;
const SLOW = { timeout: 30_000 };

/** The valid log: two entries alike (a zero descriptor, then two data descriptors; 3 sectors each), at 0 and 12 KiB. */
const BASE: EntrySpec[] = [
  { zeroes: [{ offset: D + 65536, length: 8192 }], writes: [{ offset: D, data: sector(1) }, { offset: D + SECTOR, data: sector(2) }] },
  { zeroes: [{ offset: D + 131072, length: SECTOR }], writes: [{ offset: D + 2 * SECTOR, data: sector(3) }, { offset: D + 5 * SECTOR, data: sector(4) }] },
];

/** A scratch file with the valid log; returns its path and the entries' positions and bytes. */
function validLog(entries = BASE): { path: string; positions: number[]; bytes: Uint8Array[] } {
  const path = join(dir, `hostile-${files++}.img`);
  makeLogFile(path);
  return { path, ...placeSequence(path, { start: 0, firstSeq: 1n, entries }) };
}

/** readActiveLog over the scratch log geometry, collecting the reasons for invalid entries. */
async function scan(path: string, logOffset = LOG_OFFSET, logLength = LOG_LENGTH, guid = GUID): Promise<{ replay?: LogReplay; reasons: string[] }> {
  const reasons: string[] = [];
  const f = await DiskFile.open(path, 'read');
  try {
    const replay = await readActiveLog(f, guid, logOffset, logLength, { onInvalidEntry: (p, why) => reasons.push(`${p}: ${why}`) });
    return { replay, reasons };
  } finally {
    await f.close();
  }
}

/** A valid log whose entry `index` went through `damage` (and a fresh checksum unless `fix` is false). */
function damaged(index: number, damage: (entry: Uint8Array, view: DataView) => void, fix = true): string {
  const { path, positions, bytes } = validLog();
  const entry = new Uint8Array(bytes[index]!);
  damage(entry, new DataView(entry.buffer));
  placeEntry(path, positions[index]!, fix ? rechecksum(entry) : entry);
  return path;
}

const ascii = (entry: Uint8Array, at: number, text: string) => entry.set(Buffer.from(text, 'latin1'), at);

/** Damage that makes an entry invalid (2.3.1), and the reason readActiveLog gives (none: not a "loge" of this log at all). */
const INVALID: [string, (e: Uint8Array, v: DataView) => void, RegExp | undefined, boolean?][] = [
  ['wrong entry signature', (e) => ascii(e, 0, 'logx'), undefined],
  ["another session's LogGuid", (e) => e.set(OTHER_GUID, 32), undefined],
  ['EntryLength past the log', (_, v) => v.setUint32(8, 2 * MiB, true), /EntryLength 2097152/],
  ['EntryLength not a multiple of 4 KiB', (_, v) => v.setUint32(8, SECTOR + 1, true), /EntryLength 4097/],
  ['EntryLength zero', (_, v) => v.setUint32(8, 0, true), /EntryLength 0/],
  ['EntryLength shorter than its data sectors', (_, v) => v.setUint32(8, SECTOR, true), /data sector .* past EntryLength|needs data sector/],
  ['SequenceNumber zero', (_, v) => v.setBigUint64(16, 0n, true), /SequenceNumber is 0/],
  ['DescriptorCount 2^32-1', (_, v) => v.setUint32(24, 0xffffffff, true), /DescriptorCount 4294967295/],
  ['a zero descriptor turned data descriptor, whose data sector would lie past the entry', (e) => ascii(e, 64, 'desc'), /needs data sector/],
  ['DescriptorCount one more than there are', (_, v) => v.setUint32(24, v.getUint32(24, true) + 1, true), /descriptor \d SequenceNumber 0/],
  ['descriptor signature', (e) => ascii(e, 96, 'junk'), /descriptor 1 signature "junk"/],
  ['descriptor SequenceNumber', (_, v) => v.setBigUint64(96 + 24, 7n, true), /descriptor 1 SequenceNumber 7/],
  ['data sector signature', (e) => ascii(e, SECTOR, 'dat4'), /data sector 1 signature/],
  ['data sector SequenceHigh', (_, v) => v.setUint32(SECTOR + 4, 1, true), /SequenceHigh\/Low 1\//],
  ['data sector SequenceLow', (_, v) => v.setUint32(SECTOR + 4092, 9, true), /SequenceHigh\/Low 0\/9/],
  ['checksum', (e) => (e[SECTOR + 200] ^= 1), /Checksum/, false],
];

describe('an invalid entry is not part of any sequence (2.3.3)', () => {
  for (const [name, damage, reason, fix] of INVALID) {
    it(`${name}: in the tail entry nothing is left to replay; in the head, the tail alone is replayed`, async () => {
      const tail = await scan(damaged(0, damage, fix ?? true));
      assert.equal(tail.replay, undefined);
      const head = await scan(damaged(1, damage, fix ?? true));
      assert.equal(head.replay?.entries, 1);
      assert.deepEqual(head.replay?.writes.map((w) => w.offset), [D, D + SECTOR]);
      for (const { reasons } of [tail, head]) {
        if (reason) {
          assert.equal(reasons.length, 1, reasons.join('; '));
          assert.match(reasons[0]!, reason);
        } else {
          assert.deepEqual(reasons, []);
        }
      }
    });
  }
});

/** Cases where both entries are valid but the active sequence cannot be right. */
const IMPOSSIBLE: [string, (e: Uint8Array, v: DataView) => void, ErrorCode, RegExp, number?][] = [
  ['FileOffset not 4 KiB aligned', (_, v) => v.setBigUint64(96 + 16, BigInt(D + 512), true), 'CORRUPT', /FileOffset 2097664 is not a multiple of 4 KiB/],
  ['ZeroLength not 4 KiB aligned', (_, v) => v.setBigUint64(64 + 8, 1000n, true), 'CORRUPT', /ZeroLength 1000/],
  ['ZeroLength 2^62', (_, v) => v.setBigUint64(64 + 8, 2n ** 62n, true), 'OUT_OF_RANGE', /ZeroLength/],
  ['ZeroLength 2^50, past LastFileOffset', (_, v) => v.setBigUint64(64 + 8, 2n ** 50n, true), 'CORRUPT', /end past LastFileOffset/],
  ['FileOffset 2^60', (_, v) => v.setBigUint64(96 + 16, 2n ** 60n, true), 'OUT_OF_RANGE', /FileOffset/],
  ['a write into a VHDX header', (_, v) => v.setBigUint64(96 + 16, 65536n, true), 'CORRUPT', /headers/],
  ['zeroes over the log itself', (_, v) => v.setBigUint64(64 + 16, BigInt(LOG_OFFSET), true), 'CORRUPT', /inside the log/],
  ['FlushedFileOffset of the head past the end of the file', (_, v) => v.setBigUint64(48, BigInt(FILE_SIZE + MiB), true), 'CORRUPT', /truncated/, 1],
  ['LastFileOffset 2^63', (_, v) => v.setBigUint64(56, 2n ** 63n, true), 'OUT_OF_RANGE', /LastFileOffset/],
  ['LastFileOffset 2^52', (_, v) => v.setBigUint64(56, 2n ** 52n, true), 'CORRUPT', /LastFileOffset/],
];

describe('an active sequence that cannot be right is an error, not a replay', () => {
  for (const [name, damage, code, message, index] of IMPOSSIBLE) {
    it(`${name}: ${code}`, async () => {
      const err = await rejectsWithCode(scan(damaged(index ?? 0, damage)), code);
      assert.match(err.message, message);
    });
  }

  it('two valid sequences ending with the same SequenceNumber: CORRUPT', async () => {
    const { path } = validLog();
    placeSequence(path, { start: 100 * SECTOR, firstSeq: 2n, entries: [{ writes: [{ offset: D, data: sector(9) }] }] });
    const err = await rejectsWithCode(scan(path), 'CORRUPT');
    assert.match(err.message, /two valid sequences end with SequenceNumber 2/);
  });

  it('a log region that cannot be: CORRUPT (misaligned, empty, in the first MiB, past the end); too big: UNSUPPORTED', async () => {
    const { path } = validLog();
    for (const [offset, length] of [[LOG_OFFSET + SECTOR, LOG_LENGTH], [0, LOG_LENGTH], [LOG_OFFSET, 0], [LOG_OFFSET, 1000], [LOG_OFFSET, 4 * MiB], [Number.NaN, LOG_LENGTH]]) {
      await rejectsWithCode(scan(path, offset, length), 'CORRUPT');
    }
    await rejectsWithCode(scan(path, LOG_OFFSET, LOG_LENGTH, new Uint8Array(15)), 'USAGE');
    assert.equal((await scan(path, 12345, 0, new Uint8Array(16))).replay, undefined, 'a zero LogGuid means no log, whatever the region');
    truncateSync(path, 130 * MiB);
    const err = await rejectsWithCode(scan(path, LOG_OFFSET, 128 * MiB), 'UNSUPPORTED');
    assert.match(err.message, /134217728/);
  });

  it('a file cut short inside its log: CORRUPT', async () => {
    const { path } = validLog();
    truncateSync(path, LOG_OFFSET + LOG_LENGTH / 2);
    await rejectsWithCode(scan(path), 'CORRUPT');
  });
});

/** A log region of `length` bytes in which every sector starts an entry header of this log claiming EntryLength bytes, with a wrong checksum. */
function headersEverywhere(length: number, entryLength: number, descriptorCount = 0): Uint8Array {
  const log = new Uint8Array(length);
  const v = new DataView(log.buffer);
  for (let pos = 0; pos < length; pos += SECTOR) {
    log.set(Buffer.from('loge', 'latin1'), pos);
    v.setUint32(pos + 8, entryLength, true);
    v.setBigUint64(pos + 16, BigInt(pos / SECTOR + 1), true);
    v.setUint32(pos + 24, descriptorCount, true);
    log.set(GUID, pos + 32);
  }
  return log;
}

describe('no hang, no huge allocation', () => {
  it('every sector of a 1 MiB log a header claiming the whole log: checked, none valid, undefined', SLOW, async () => {
    const mem = new MemoryFile(new Uint8Array(3 * MiB));
    mem.bytes.set(headersEverywhere(MiB, MiB), LOG_OFFSET);
    let reasons = 0;
    const started = Date.now();
    assert.equal(await readActiveLog(mem, GUID, LOG_OFFSET, MiB, { onInvalidEntry: () => reasons++ }), undefined);
    assert.equal(reasons, 256);
    assert.ok(Date.now() - started < 10_000, `took ${Date.now() - started} ms`);
  });

  it('the same in a 16 MiB log would checksum 64 GiB: CORRUPT once the scan budget is spent', SLOW, async () => {
    const mem = new MemoryFile(new Uint8Array(18 * MiB));
    mem.bytes.set(headersEverywhere(16 * MiB, 16 * MiB), LOG_OFFSET);
    const err = await rejectsWithCode(readActiveLog(mem, GUID, LOG_OFFSET, 16 * MiB), 'CORRUPT');
    assert.match(err.message, /overlap/);
  });

  it('huge DescriptorCounts in every sector are rejected without reading them', SLOW, async () => {
    for (const count of [0xffffffff, 32766]) {
      const mem = new MemoryFile(new Uint8Array(3 * MiB));
      mem.bytes.set(headersEverywhere(MiB, MiB, count), LOG_OFFSET);
      assert.equal(await readActiveLog(mem, GUID, LOG_OFFSET, MiB), undefined);
    }
  });

  it('random damage to a valid log: a replay, nothing, or a DiskImageError; replays read and apply alike', SLOW, async () => {
    const entries: EntrySpec[] = [...BASE, { zeroes: [{ offset: D + MiB - 8192, length: 65536 }], writes: [{ offset: D + 3 * SECTOR, data: sector(4) }] }];
    const { path, positions, bytes } = validLog(entries);
    const pristine = new Uint8Array(readFileSync(path));
    const rand = prng(2024);
    const pick = (n: number) => Math.floor(rand() * n);
    const outcomes = new Map<string, number>();
    for (let round = 0; round < 400; round++) {
      const image = new Uint8Array(pristine);
      const log = image.subarray(LOG_OFFSET, LOG_OFFSET + LOG_LENGTH);
      const kind = pick(4);
      if (kind === 0) for (let k = 1 + pick(8); k > 0; k--) log[pick(8 * SECTOR)] ^= 1 << pick(8);
      if (kind === 1) log.copyWithin(pick(8) * SECTOR, pick(8) * SECTOR, pick(8) * SECTOR + SECTOR);
      if (kind === 2) log.fill(0, pick(8) * SECTOR, pick(8) * SECTOR + SECTOR);
      if (kind === 3) {
        const i = pick(bytes.length);
        const entry = new Uint8Array(bytes[i]!);
        for (let k = 1 + pick(4); k > 0; k--) entry[rand() < 0.7 ? pick(64 + 32 * 3) : pick(entry.length)] = pick(256);
        rechecksum(entry);
        log.set(entry, positions[i]!);
      }
      const mem = new MemoryFile(image);
      let outcome: string;
      try {
        const replay = await readActiveLog(mem, GUID, LOG_OFFSET, LOG_LENGTH);
        outcome = replay ? `replay of ${replay.entries}` : 'nothing';
        const view = replay && new ReplayedFile(mem, replay);
        if (view && view.size > 64 * MiB) {
          // A damaged LastFileOffset may ask for a huge (sparse) file: read its ends only.
          await view.read(new Uint8Array(MiB), 0);
          await view.read(new Uint8Array(MiB), view.size - MiB);
          outcome += ', huge';
        } else if (view) {
          const seen = new Uint8Array(view.size);
          await view.read(seen, 0);
          const applied = new MemoryFile(new Uint8Array(image));
          await replayLogInPlace(applied, replay);
          assert.ok(Buffer.from(applied.bytes).equals(Buffer.from(seen)), `round ${round}: in place and in memory differ`);
        }
      } catch (err) {
        if (!(err instanceof DiskImageError)) throw new Error(`round ${round} (damage ${kind}): ${String(err)}`);
        outcome = err.code;
      }
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    }
    assert.ok((outcomes.get('replay of 3') ?? 0) > 0 && (outcomes.get('nothing') ?? 0) + (outcomes.get('replay of 1') ?? 0) > 0, JSON.stringify([...outcomes]));
  });
});

describe('the bytes written back are the only ones that change', () => {
  it('replayLogInPlace leaves the log and everything it does not update as it was', async () => {
    const { path } = validLog();
    const before = readFileSync(path);
    const { replay } = await scan(path);
    const f = await DiskFile.open(path, 'write');
    await replayLogInPlace(f, replay!);
    await f.close();
    const after = readFileSync(path);
    const touched = (i: number) => (i >= D && i < D + 6 * SECTOR) || (i >= D + 65536 && i < D + 65536 + 8192) || (i >= D + 131072 && i < D + 131072 + SECTOR);
    for (let i = 0; i < before.length; i += 512) {
      if (!touched(i)) assert.ok(before.subarray(i, i + 512).equals(after.subarray(i, i + 512)), `bytes at ${i} changed`);
    }
  });
});
