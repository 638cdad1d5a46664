/**
 * The VHDX log ([MS-VHDX] 2.3). Entries made by encodeLogEntry go into a
 * scratch file's log (sequences, wraparound, stale and torn entries, a tail
 * in mid-run, padding, zero descriptors); readActiveLog must pick the active
 * sequence of 2.3.3, and ReplayedFile reads and replayLogInPlace results must
 * equal a byte model of the same updates applied in order. Last, qemu-img
 * replays logs in a real Windows VHDX and must agree with vdisk byte for byte.
 */
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DiskFile } from '../../../src/io/file.js';
import { decodeHeader, encodeHeader } from '../../../src/formats/vhdx/header.js';
import { HEADER_OFFSETS } from '../../../src/formats/vhdx/constants.js';
import { decodeLogEntry, descriptorSectors, encodeLogEntry, logEntryChecksum } from '../../../src/formats/vhdx/log-entry.js';
import { readActiveLog, type ReadLogOptions } from '../../../src/formats/vhdx/log.js';
import type { LogReplay } from '../../../src/formats/vhdx/log-updates.js';
import { replayLogInPlace } from '../../../src/formats/vhdx/log-replay.js';
import { ReplayedFile } from '../../../src/formats/vhdx/replayed-file.js';
import { rejectsWithCode } from '../../helpers/assert-error.js';
import { crashStates, materialise, Recorder, snapshot } from '../../helpers/fault-file.js';
import { needTools, realImages, run } from '../../helpers/oracles.js';
import { prng } from '../../helpers/prng.js';
import { tempDir } from '../../helpers/tmp.js';
import {
  FILE_SIZE,
  GUID,
  HOLE,
  LOG_LENGTH,
  LOG_OFFSET,
  MiB,
  OTHER_GUID,
  SECTOR,
  makeLogFile,
  model,
  placeSequence,
  sector,
  writeAt,
  type EntrySpec,
} from '../../helpers/vhdx-log.js';

const dir = tempDir();
let files = 0;
/** Where the log updates go: the patterned 2 MiB after the log. */
const D = 2 * MiB;

function fresh(size?: number): string {
  const path = join(dir, `log-${files++}.img`);
  makeLogFile(path, size);
  return path;
}

/** readActiveLog on `path` with the scratch log geometry. */
async function replayOf(path: string, guid = GUID, options: ReadLogOptions = {}): Promise<LogReplay | undefined> {
  const f = await DiskFile.open(path, 'read');
  try {
    return await readActiveLog(f, guid, LOG_OFFSET, LOG_LENGTH, options);
  } finally {
    await f.close();
  }
}

/** Fails with the first differing offset instead of a megabyte diff. */
function assertSame(actual: Uint8Array, expected: Uint8Array, what: string, skip?: { offset: number; length: number }): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    if (skip && i >= skip.offset && i < skip.offset + skip.length) continue;
    if (actual[i] !== expected[i]) assert.fail(`${what}: byte ${i} (sector at ${i - (i % SECTOR)}) is ${actual[i]}, expected ${expected[i]}`);
  }
}

/**
 * Checks the log of `path` three ways against `expected`: the replay's shape,
 * ReplayedFile (whole file, random reads, data ranges), and replayLogInPlace
 * on a copy, twice (replay is idempotent).
 */
async function expectReplay(path: string, expected: Uint8Array, want: { entries: number; sequenceNumber: bigint }): Promise<LogReplay> {
  const f = await DiskFile.open(path, 'read');
  let replay: LogReplay | undefined;
  try {
    replay = await readActiveLog(f, GUID, LOG_OFFSET, LOG_LENGTH);
    assert.ok(replay, 'expected an active sequence');
    assert.equal(replay.entries, want.entries, 'entries in the active sequence');
    assert.equal(replay.sequenceNumber, want.sequenceNumber, 'head sequence number');
    for (let i = 1; i < replay.writes.length; i++) assert.ok(replay.writes[i]!.offset > replay.writes[i - 1]!.offset, 'writes sorted, one per sector');
    const view = new ReplayedFile(f, replay);
    assert.equal(view.size, expected.length);
    const all = new Uint8Array(view.size);
    await view.read(all, 0);
    assertSame(all, expected, 'ReplayedFile');
    const rand = prng(42);
    for (let k = 0; k < 200; k++) {
      const offset = Math.floor(rand() * view.size);
      const piece = new Uint8Array(Math.min(1 + Math.floor(rand() * 3 * SECTOR), view.size - offset));
      await view.read(piece, offset);
      assertSame(piece, expected.subarray(offset, offset + piece.length), `ReplayedFile read at ${offset}`);
    }
    let pos = 0;
    for (const r of [...(await view.dataRanges(0, view.size)), { offset: view.size, length: 0 }]) {
      assert.ok(r.offset >= pos, 'data ranges sorted and disjoint');
      assert.ok(expected.subarray(pos, r.offset).every((b) => b === 0), `bytes ${pos}..${r.offset} outside the data ranges are zero`);
      pos = r.offset + r.length;
    }
  } finally {
    await f.close();
  }
  const copy = `${path}.replayed`;
  copyFileSync(path, copy);
  for (const round of [1, 2]) {
    const w = await DiskFile.open(copy, 'write');
    try {
      await replayLogInPlace(w, replay);
    } finally {
      await w.close();
    }
    assertSame(readFileSync(copy), expected, `replayed in place, round ${round}`);
  }
  return replay;
}

describe('encodeLogEntry and decodeLogEntry (2.3.1)', () => {
  it('lays out the header, descriptors and data sectors, leading 8 and trailing 4 bytes in the descriptor', () => {
    const data = sector(1);
    const entry = encodeLogEntry({
      logGuid: GUID, sequenceNumber: 0x1_0000_0002n, tail: 8192, flushedFileOffset: 3 * MiB, lastFileOffset: 5 * MiB,
      writes: [{ offset: D, data }], zeroes: [{ offset: D + 65536, length: 8192 }],
    });
    const v = new DataView(entry.buffer);
    const ascii = (at: number) => Buffer.from(entry.subarray(at, at + 4)).toString('latin1');
    assert.equal(entry.length, 2 * SECTOR);
    assert.equal(ascii(0), 'loge');
    assert.equal(v.getUint32(4, true), logEntryChecksum(entry));
    assert.equal(v.getUint32(8, true), 2 * SECTOR, 'EntryLength');
    assert.equal(v.getUint32(12, true), 8192, 'Tail');
    assert.equal(v.getBigUint64(16, true), 0x1_0000_0002n, 'SequenceNumber');
    assert.equal(v.getUint32(24, true), 2, 'DescriptorCount');
    assert.deepEqual(entry.subarray(32, 48), GUID);
    assert.equal(v.getBigUint64(48, true), BigInt(3 * MiB), 'FlushedFileOffset');
    assert.equal(v.getBigUint64(56, true), BigInt(5 * MiB), 'LastFileOffset');
    assert.equal(ascii(64), 'zero');
    assert.equal(v.getBigUint64(64 + 8, true), 8192n, 'ZeroLength');
    assert.equal(v.getBigUint64(64 + 16, true), BigInt(D + 65536), 'zero FileOffset');
    assert.equal(v.getBigUint64(64 + 24, true), 0x1_0000_0002n);
    assert.equal(ascii(96), 'desc');
    assert.deepEqual(entry.subarray(96 + 4, 96 + 8), data.subarray(4092), 'TrailingBytes');
    assert.deepEqual(entry.subarray(96 + 8, 96 + 16), data.subarray(0, 8), 'LeadingBytes');
    assert.equal(v.getBigUint64(96 + 16, true), BigInt(D), 'data FileOffset');
    assert.equal(ascii(SECTOR), 'data');
    assert.equal(v.getUint32(SECTOR + 4, true), 1, 'SequenceHigh');
    assert.deepEqual(entry.subarray(SECTOR + 8, SECTOR + 4092), data.subarray(8, 4092), 'Data');
    assert.equal(v.getUint32(SECTOR + 4092, true), 2, 'SequenceLow');
    const back = decodeLogEntry(entry, GUID);
    assert.ok(typeof back !== 'string', String(back));
    assert.deepEqual(back.descriptors, [
      { kind: 'zero', fileOffset: BigInt(D + 65536), length: 8192n },
      { kind: 'data', fileOffset: BigInt(D), sector: data },
    ]);
  });

  it('packs descriptors across sectors: 130 writes need 2 descriptor sectors', () => {
    const writes = Array.from({ length: 130 }, (_, i) => ({ offset: D + i * SECTOR, data: sector(100 + i) }));
    const entry = encodeLogEntry({ logGuid: GUID, sequenceNumber: 9n, tail: 0, flushedFileOffset: 0, lastFileOffset: 0, writes, zeroes: [] });
    assert.equal(descriptorSectors(126), 1);
    assert.equal(descriptorSectors(127), 2);
    assert.equal(entry.length, (2 + 130) * SECTOR);
    const back = decodeLogEntry(entry, GUID);
    assert.ok(typeof back !== 'string', String(back));
    assert.deepEqual(back.descriptors.map((d) => (d.kind === 'data' ? d.sector : undefined)), writes.map((w) => w.data));
  });

  it('refuses input it cannot encode (USAGE)', async () => {
    const base = { logGuid: GUID, sequenceNumber: 1n, tail: 0, flushedFileOffset: 0, lastFileOffset: 0, writes: [], zeroes: [] };
    await rejectsWithCode(() => encodeLogEntry({ ...base, writes: [{ offset: 100, data: sector(1) }] }), 'USAGE');
    await rejectsWithCode(() => encodeLogEntry({ ...base, writes: [{ offset: 0, data: new Uint8Array(512) }] }), 'USAGE');
    await rejectsWithCode(() => encodeLogEntry({ ...base, zeroes: [{ offset: 0, length: 100 }] }), 'USAGE');
    await rejectsWithCode(() => encodeLogEntry({ ...base, sequenceNumber: 0n }), 'USAGE');
    await rejectsWithCode(() => encodeLogEntry({ ...base, tail: 10 }), 'USAGE');
  });
});

describe('readActiveLog finds the active sequence (2.3.3)', () => {
  it('returns undefined for a zero LogGuid, an empty log, and a log of another session', async () => {
    const path = fresh();
    assert.equal(await replayOf(path), undefined, 'blank log');
    placeSequence(path, { start: 0, firstSeq: 5n, entries: [{ writes: [{ offset: D, data: sector(1) }] }], guid: OTHER_GUID });
    assert.equal(await replayOf(path), undefined, "only another LogGuid's entries");
    assert.equal(await replayOf(path, new Uint8Array(16)), undefined, 'LogGuid zero: no log to replay, whatever is in it');
  });

  it('replays one entry whose tail is itself', async () => {
    const path = fresh();
    const entries: EntrySpec[] = [{ writes: [{ offset: D, data: sector(1) }, { offset: D + 8192, data: sector(2) }], zeroes: [{ offset: D + 65536, length: 16384 }] }];
    placeSequence(path, { start: 0, firstSeq: 1n, entries });
    await expectReplay(path, model(readFileSync(path), entries), { entries: 1, sequenceNumber: 1n });
  });

  it('replays a header-only entry (no descriptors) as nothing to do, as Windows writes first', async () => {
    const path = fresh();
    placeSequence(path, { start: 0, firstSeq: 7n, entries: [{}] });
    const replay = await expectReplay(path, readFileSync(path), { entries: 1, sequenceNumber: 7n });
    assert.deepEqual([replay.writes, replay.zeroes], [[], []]);
  });

  it('applies several entries in order: later writes and zeroes win, also within an entry', async () => {
    const path = fresh();
    const Y = D + 256 * 1024;
    const entries: EntrySpec[] = [
      { writes: [{ offset: D, data: sector(1) }, { offset: D + SECTOR, data: sector(2) }], zeroes: [{ offset: Y, length: 65536 }] },
      { writes: [{ offset: D, data: sector(3) }, { offset: Y + SECTOR, data: sector(4) }], zeroes: [{ offset: D + SECTOR, length: SECTOR }] },
      { writes: [{ offset: Y, data: sector(5) }, { offset: HOLE.offset + SECTOR, data: sector(6) }], zeroes: [{ offset: Y, length: 8192 }, { offset: D + MiB - 8192, length: 16384 }] },
    ];
    placeSequence(path, { start: 40 * SECTOR, firstSeq: 100n, entries });
    const replay = await expectReplay(path, model(readFileSync(path), entries), { entries: 3, sequenceNumber: 102n });
    assert.deepEqual(replay.writes.map((w) => w.offset), [D, Y, HOLE.offset + SECTOR]);
    assert.deepEqual(replay.zeroes, [{ offset: D + SECTOR, length: SECTOR }, { offset: Y + SECTOR, length: 65536 - SECTOR }, { offset: D + MiB - 8192, length: 12288 }], 'the hole sector written last splits the zeroes');
  });

  it('follows a sequence around the end of the circular log, ignoring a stale older sequence and other sessions', async () => {
    const path = fresh();
    const stale: EntrySpec[] = [{ writes: [{ offset: D, data: sector(90) }] }, { writes: [{ offset: D + SECTOR, data: sector(91) }] }];
    placeSequence(path, { start: 100 * SECTOR, firstSeq: 10n, entries: stale });
    placeSequence(path, { start: 50 * SECTOR, firstSeq: 9000n, entries: [{ writes: [{ offset: D, data: sector(92) }] }], guid: OTHER_GUID });
    const entries: EntrySpec[] = [
      { writes: [{ offset: D + 2 * SECTOR, data: sector(1) }, { offset: D + 3 * SECTOR, data: sector(2) }] },
      { writes: Array.from({ length: 5 }, (_, i) => ({ offset: D + (10 + i) * SECTOR, data: sector(10 + i) })), zeroes: [{ offset: D + 2 * SECTOR, length: SECTOR }] },
      { writes: [{ offset: D + 11 * SECTOR, data: sector(20) }] },
    ];
    const { positions } = placeSequence(path, { start: 250 * SECTOR, firstSeq: 20n, entries });
    assert.deepEqual(positions, [250 * SECTOR, 253 * SECTOR, 3 * SECTOR], 'the second entry wraps past the end of the log');
    await expectReplay(path, model(readFileSync(path), entries), { entries: 3, sequenceNumber: 22n });
  });

  it('ignores a torn newest entry: the active sequence is the one before it', async () => {
    const path = fresh();
    const entries: EntrySpec[] = [1, 2, 3].map((i) => ({ writes: [{ offset: D + i * SECTOR, data: sector(i) }] }));
    const { positions } = placeSequence(path, { start: 0, firstSeq: 1n, entries });
    writeAt(path, LOG_OFFSET + positions[2]! + SECTOR + 100, Uint8Array.of(0xee));
    const seen: string[] = [];
    await expectReplay(path, model(readFileSync(path), entries.slice(0, 2)), { entries: 2, sequenceNumber: 2n });
    await replayOf(path, GUID, { onInvalidEntry: (p, why) => seen.push(`${p}: ${why}`) });
    assert.equal(seen.length, 1);
    assert.match(seen[0]!, new RegExp(`^${positions[2]}: Checksum`));
  });

  it('ignores a newest entry whose last sector never reached the disk', async () => {
    const path = fresh();
    const entries: EntrySpec[] = [1, 2].map((i) => ({ writes: [{ offset: D + i * SECTOR, data: sector(i) }, { offset: D + 9 * SECTOR, data: sector(10 + i) }] }));
    const { positions } = placeSequence(path, { start: 0, firstSeq: 1n, entries });
    writeAt(path, LOG_OFFSET + positions[1]! + 2 * SECTOR, new Uint8Array(SECTOR));
    await expectReplay(path, model(readFileSync(path), entries.slice(0, 1)), { entries: 1, sequenceNumber: 1n });
  });

  it('replays from the entry the head names as its tail, not from the start of the run', async () => {
    const path = fresh();
    const entries: EntrySpec[] = [5, 6, 7, 8].map((i) => ({ writes: [{ offset: D + (i % 2) * SECTOR, data: sector(i) }], zeroes: [{ offset: D + (i + 10) * SECTOR, length: SECTOR }] }));
    const { positions } = placeSequence(path, { start: 10 * SECTOR, firstSeq: 5n, entries });
    const tailed = entries.map((e, i) => ({ ...e, tail: i < 2 ? positions[0] : positions[2] }));
    placeSequence(path, { start: 10 * SECTOR, firstSeq: 5n, entries: tailed });
    await expectReplay(path, model(readFileSync(path), entries.slice(2)), { entries: 2, sequenceNumber: 8n });
  });

  it('falls back to the previous valid sequence when the newest entry names a tail that is not a sequence', async () => {
    const path = fresh();
    const entries: EntrySpec[] = [10, 11].map((i) => ({ writes: [{ offset: D + i * SECTOR, data: sector(i) }] }));
    const { positions } = placeSequence(path, { start: 0, firstSeq: 10n, entries });
    const next = positions[1]! + 2 * SECTOR;
    placeSequence(path, { start: next, firstSeq: 12n, entries: [{ writes: [{ offset: D, data: sector(12) }], tail: 200 * SECTOR }] });
    await expectReplay(path, model(readFileSync(path), entries), { entries: 2, sequenceNumber: 11n });
  });

  it('accepts entries padded past their last data sector (EntryLength covers the padding)', async () => {
    const path = fresh();
    const entries: EntrySpec[] = [
      { writes: [{ offset: D, data: sector(1) }], padSectors: 3 },
      { writes: [{ offset: D + SECTOR, data: sector(2) }], padSectors: 1 },
      { writes: [{ offset: D + 2 * SECTOR, data: sector(3) }] },
    ];
    const { positions } = placeSequence(path, { start: 0, firstSeq: 1n, entries });
    assert.deepEqual(positions, [0, 5 * SECTOR, 8 * SECTOR]);
    await expectReplay(path, model(readFileSync(path), entries), { entries: 3, sequenceNumber: 3n });
  });

  it('replays a sequence that fills the whole log, one sector per entry', async () => {
    const path = fresh();
    const entries: EntrySpec[] = Array.from({ length: LOG_LENGTH / SECTOR }, () => ({}));
    entries[255] = { zeroes: [{ offset: D, length: 8192 }] };
    placeSequence(path, { start: 7 * SECTOR, firstSeq: 1000n, entries });
    await expectReplay(path, model(readFileSync(path), entries), { entries: 256, sequenceNumber: 1255n });
  });

  it('grows the file to LastFileOffset, with updates past the old end', async () => {
    const path = fresh();
    const entries: EntrySpec[] = [{ writes: [{ offset: FILE_SIZE + MiB / 2, data: sector(1) }], zeroes: [{ offset: FILE_SIZE - 8192, length: 16384 }], lastFileOffset: FILE_SIZE + MiB }];
    placeSequence(path, { start: 0, firstSeq: 1n, entries });
    const replay = await expectReplay(path, model(readFileSync(path), entries, FILE_SIZE + MiB), { entries: 1, sequenceNumber: 1n });
    assert.equal(replay.lastFileOffset, FILE_SIZE + MiB);
    assert.equal(replay.flushedFileOffset, FILE_SIZE);
  });
});

describe('ReplayedFile and replayLogInPlace', () => {
  it('ReplayedFile is read-only, reads past its end are CORRUPT, and close closes the file', async () => {
    const path = fresh();
    placeSequence(path, { start: 0, firstSeq: 1n, entries: [{ writes: [{ offset: D, data: sector(1) }] }] });
    const f = await DiskFile.open(path, 'read');
    const view = new ReplayedFile(f, (await readActiveLog(f, GUID, LOG_OFFSET, LOG_LENGTH))!);
    await rejectsWithCode(view.write(), 'USAGE');
    await rejectsWithCode(view.truncate(), 'USAGE');
    await rejectsWithCode(view.read(new Uint8Array(2), FILE_SIZE - 1), 'CORRUPT');
    await view.sync();
    await view.close();
    await view.close();
    const w = await DiskFile.open(path, 'write');
    await w.close();
  });

  it('a hand-made replay means zeroes first, then writes in order; a malformed one is USAGE', async () => {
    const path = fresh();
    const base = readFileSync(path);
    const replay: LogReplay = {
      sequenceNumber: 1n, entries: 1, flushedFileOffset: 0, lastFileOffset: 0,
      writes: [{ offset: D, data: sector(1) }, { offset: D, data: sector(2) }, { offset: D + SECTOR, data: sector(3) }],
      zeroes: [{ offset: D, length: 3 * SECTOR }],
    };
    const expected = model(base, [{ zeroes: replay.zeroes, writes: replay.writes }]);
    const f = await DiskFile.open(path, 'read');
    try {
      const all = new Uint8Array(FILE_SIZE);
      await new ReplayedFile(f, replay).read(all, 0);
      assertSame(all, expected, 'ReplayedFile');
      assert.throws(() => new ReplayedFile(f, { ...replay, writes: [{ offset: 512, data: sector(1) }] }), { code: 'USAGE' });
      assert.throws(() => new ReplayedFile(f, { ...replay, zeroes: [{ offset: 0, length: 512 }] }), { code: 'USAGE' });
    } finally {
      await f.close();
    }
    const w = await DiskFile.open(path, 'write');
    try {
      await rejectsWithCode(replayLogInPlace(w, { ...replay, writes: [{ offset: 0, data: new Uint8Array(10) }] }), 'USAGE');
      assertSame(readFileSync(path), base, 'nothing written before the USAGE error');
      await replayLogInPlace(w, replay);
    } finally {
      await w.close();
    }
    assertSame(readFileSync(path), expected, 'in place');
  });

  it('replayLogInPlace grows the file first and fsyncs last; every power cut leaves a file that replays to the same result', async () => {
    const path = fresh();
    const entries: EntrySpec[] = [
      { writes: [{ offset: D, data: sector(1) }, { offset: FILE_SIZE + 8192, data: sector(2) }], zeroes: [{ offset: D + 65536, length: 65536 }], lastFileOffset: FILE_SIZE + MiB },
      { writes: [{ offset: D + 65536, data: sector(3) }] },
    ];
    placeSequence(path, { start: 0, firstSeq: 1n, entries });
    const expected = model(readFileSync(path), entries, FILE_SIZE + MiB);
    const initial = snapshot([path]);
    const recorder = new Recorder();
    const f = await DiskFile.open(path, 'read');
    const replay = (await readActiveLog(f, GUID, LOG_OFFSET, LOG_LENGTH))!;
    await f.close();
    const w = await recorder.opener(path, 'write');
    await replayLogInPlace(w, replay);
    await w.close();
    const kinds = recorder.events.map((e) => e.kind);
    assert.equal(kinds[0], 'truncate');
    assert.equal(kinds[kinds.length - 1], 'sync');
    assertSame(readFileSync(path), expected, 'replayed');
    let states = 0;
    for (const state of crashStates(initial, recorder.events)) {
      const copy = (await materialise(state, join(dir, `crash-${files++}`))).get(path)!;
      assert.deepEqual(await replayOf(copy), replay, `${state.description}: the log still replays the same`);
      const again = await DiskFile.open(copy, 'write');
      await replayLogInPlace(again, replay);
      await again.close();
      assertSame(readFileSync(copy), expected, state.description);
      states++;
    }
    assert.ok(states > 3);
  });
});

/** Sets LogGuid in both headers of a VHDX (fresh checksums, same sequence numbers). */
function setLogGuid(path: string, guid: Uint8Array): void {
  const bytes = readFileSync(path);
  HEADER_OFFSETS.forEach((at, slot) => {
    const h = decodeHeader(bytes.subarray(at, at + SECTOR), slot);
    assert.ok(h, `header ${slot} of ${path} is valid`);
    writeAt(path, at, encodeHeader({ ...h.fields, logGuid: guid }));
  });
}

/** Replays the log of `path` with vdisk into one copy and with `qemu-img check -r all` into another; returns both files' bytes. */
async function replayBothWays(path: string, guid: Uint8Array, logOffset: number, logLength: number): Promise<{ ours: Buffer; qemu: Buffer; replay: LogReplay }> {
  const ours = `${path}.vdisk`;
  const theirs = `${path}.qemu`;
  copyFileSync(path, ours);
  copyFileSync(path, theirs);
  const f = await DiskFile.open(ours, 'write');
  let replay: LogReplay | undefined;
  try {
    replay = await readActiveLog(f, guid, logOffset, logLength);
    assert.ok(replay, 'vdisk finds an active sequence');
    await replayLogInPlace(f, replay);
  } finally {
    await f.close();
  }
  run('qemu-img', ['check', '-f', 'vhdx', '-r', 'all', theirs]);
  return { ours: readFileSync(ours), qemu: readFileSync(theirs), replay };
}

describe('qemu-img check -r all agrees (real Windows VHDX: DiscUtils swap.vhdx, 1 MiB log at 1 MiB)', () => {
  /** The header slots, which qemu rewrites after replay (new LogGuid 0, FileWriteGuid) and vdisk leaves to its caller. */
  const HEADERS = { offset: HEADER_OFFSETS[0], length: 2 * 65536 };

  function swapCopy(t: import('node:test').TestContext): string | undefined {
    if (!needTools(t, 'qemu-img')) return undefined;
    const real = realImages(t);
    const swap = real?.images.find((i) => i.path.endsWith('swap.vhdx'));
    if (!swap) return undefined;
    const path = join(dir, `swap-${files++}.vhdx`);
    copyFileSync(swap.path, path);
    return path;
  }

  it("replays the log Windows left behind (3 entries) like qemu, restoring the sector it updates", async (t) => {
    const path = swapCopy(t);
    if (!path) return;
    const original = readFileSync(path);
    // Windows flushed this log and set LogGuid to zero: give the headers its entries' LogGuid again, and damage the BAT sector they write.
    const guid = original.subarray(MiB + 32, MiB + 48);
    setLogGuid(path, guid);
    writeAt(path, 3 * MiB, new Uint8Array(SECTOR).fill(0x5a));
    const { ours, qemu, replay } = await replayBothWays(path, guid, MiB, MiB);
    assert.equal(replay.entries, 3);
    assert.deepEqual(replay.writes.map((w) => w.offset), [3 * MiB]);
    assertSame(ours, qemu, 'vdisk vs qemu-img', HEADERS);
    assertSame(ours, original, 'vdisk vs the file before damage', HEADERS);
  });

  // Within what qemu 7.2 handles: it reads only the first of several descriptor sectors
  // (vhdx_log_read_sectors never advances its buffer), so an entry of more than 126
  // descriptors fails to open; and it ignores Tail and scans from log offset 0, so of a
  // sequence that wraps past the end of the log it replays only the part after the wrap.
  it('replays a sequence of encodeLogEntry entries like qemu', async (t) => {
    const path = swapCopy(t);
    if (!path) return;
    const size = readFileSync(path).length;
    setLogGuid(path, GUID);
    const B = 4 * MiB; // payload block 0 of swap.vhdx: 32 MiB of guest data
    const entries: EntrySpec[] = [
      { writes: [{ offset: B, data: sector(1) }, { offset: B + SECTOR, data: sector(2) }], zeroes: [{ offset: B + 65536, length: 32768 }] },
      { writes: [{ offset: B, data: sector(3) }, { offset: B + 65536 + SECTOR, data: sector(4) }], zeroes: [{ offset: B + SECTOR, length: SECTOR }] },
      { writes: Array.from({ length: 100 }, (_, i) => ({ offset: B + MiB + i * SECTOR, data: sector(10 + i) })), zeroes: [{ offset: B + 65536, length: 8192 }] },
    ].map((e) => ({ ...e, flushedFileOffset: size, lastFileOffset: size }));
    placeSequence(path, { start: 64 * 1024, firstSeq: 77n, entries });
    const expected = model(readFileSync(path), entries);
    const { ours, qemu, replay } = await replayBothWays(path, GUID, MiB, MiB);
    assert.equal(replay.entries, 3);
    assertSame(ours, qemu, 'vdisk vs qemu-img', HEADERS);
    assertSame(ours, expected, 'vdisk vs the model', HEADERS);
  });

});
