/**
 * The compression pool: each codec's units decompress to their input with
 * the decoder a reader uses (zlib; raw DEFLATE with a 4 KiB window, which
 * fails on any distance a larger window would allow; zstd, one frame a
 * unit), units that do not shrink enough come back stored as they were,
 * the caller's framing is kept, results come back in buffers of the batch's size, and many jobs
 * on few workers each get their own result.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { inflateRawSync, inflateSync } from 'node:zlib';
import { decompress } from 'fzstd';
import { CompressPool } from '../../src/util/compress-pool.js';
import type { CompressResult } from '../../src/util/compressor.js';
import { prng } from '../helpers/prng.js';

const KiB = 1024;

/** A batch buffer of `pool.batchBytes` holding `units` back to back. */
function batch(pool: CompressPool, units: Uint8Array[]): Uint8Array {
  const buf = new Uint8Array(pool.batchBytes(units[0]!.length, units.length));
  units.forEach((u, k) => buf.set(u, k * u.length));
  return buf;
}

/** A unit of random bytes (incompressible) from `seed`. */
function randomUnit(bytes: number, seed: number): Uint8Array {
  const next = prng(seed);
  return Uint8Array.from({ length: bytes }, () => Math.floor(next() * 256));
}

/** A unit made of one random 8 KiB piece repeated: compressible only through matches 8 KiB back. */
function repeatedUnit(bytes: number, seed: number): Uint8Array {
  const piece = randomUnit(8 * KiB, seed);
  const unit = new Uint8Array(bytes);
  for (let at = 0; at < bytes; at += piece.length) unit.set(piece, at);
  return unit;
}

/** The compressed bytes of unit `k`. */
function unitBytes(r: CompressResult, head: number, k: number): Buffer {
  const { at, length } = r.units[k]!;
  return Buffer.from(r.out.buffer, r.out.byteOffset + at + head, length);
}

describe('the compression pool', () => {
  it('zlib: frames each unit behind zeroed head room, padded with zeros to the alignment, in a buffer of the batch size', async () => {
    const pool = new CompressPool({ codec: 'zlib', framing: { head: 12, align: 512 }, workers: 2 });
    try {
      const units = [randomUnit(64 * KiB, 1), new Uint8Array(64 * KiB).fill(7), repeatedUnit(64 * KiB, 2)];
      const size = pool.batchBytes(64 * KiB, 3);
      const r = await pool.run({ data: batch(pool, units), unitBytes: 64 * KiB, count: 3 });
      assert.equal(r.out.buffer.byteLength, size, 'the result comes back in a buffer of the batch size');
      let expectAt = 0;
      r.units.forEach(({ at, length }, k) => {
        assert.equal(at, expectAt, `unit ${k} follows the previous one`);
        assert.ok(Buffer.from(r.out.subarray(at, at + 12)).equals(Buffer.alloc(12)), `unit ${k}'s head room is zero`);
        assert.ok(inflateSync(unitBytes(r, 12, k)).equals(Buffer.from(units[k]!)), `unit ${k} inflates to its input`);
        const end = at + Math.ceil((12 + length) / 512) * 512;
        assert.ok(Buffer.from(r.out.subarray(at + 12 + length, end)).equals(Buffer.alloc(end - at - 12 - length)), `unit ${k} is padded with zeros`);
        expectAt = end;
      });
      assert.equal(r.out.length, expectAt, 'out ends after the last framed unit');
      assert.ok(r.units[1]!.length < 1024 && r.units[2]!.length < 16 * KiB, 'compressible units shrink');
    } finally {
      await pool.close();
    }
  });

  it('deflate-raw: bare DEFLATE with a 4 KiB window, units back to back without framing', async () => {
    const pool = new CompressPool({ codec: 'deflate-raw', workers: 1 });
    try {
      const units = [repeatedUnit(64 * KiB, 3), randomUnit(64 * KiB, 4)];
      const r = await pool.run({ data: batch(pool, units), unitBytes: 64 * KiB, count: 2 });
      assert.equal(r.units[1]!.at, r.units[0]!.length, 'the second unit starts where the first ends');
      units.forEach((u, k) => assert.ok(inflateRawSync(unitBytes(r, 0, k), { windowBits: 12 }).equals(Buffer.from(u)), `unit ${k} inflates with a 4 KiB window`));
      assert.ok(r.units[0]!.length > 60 * KiB, 'matches 8 KiB back are out of a 4 KiB window');
    } finally {
      await pool.close();
    }
  });

  it('gives each of many queued jobs its own result, and reuses the buffers it is handed', async () => {
    const pool = new CompressPool({ codec: 'zlib', workers: 2 });
    try {
      const jobs = Array.from({ length: 12 }, (_, j) => [randomUnit(4 * KiB, 10 + j), new Uint8Array(4 * KiB).fill(j)]);
      const results = await Promise.all(jobs.map((units) => pool.run({ data: batch(pool, units), unitBytes: 4 * KiB, count: 2 })));
      results.forEach((r, j) => jobs[j]!.forEach((u, k) => assert.ok(inflateSync(unitBytes(r, 0, k)).equals(Buffer.from(u)), `job ${j} unit ${k}`)));
      assert.ok(results.every((r) => r.out.buffer.byteLength === pool.batchBytes(4 * KiB, 2)), 'every result is in a buffer of the batch size');
    } finally {
      await pool.close();
    }
  });

  it('zstd: one frame per unit, which a zstd decoder turns back into the unit', async () => {
    const pool = new CompressPool({ codec: 'zstd', workers: 2 });
    try {
      const units = [repeatedUnit(64 * KiB, 5), new Uint8Array(64 * KiB).fill(9), randomUnit(64 * KiB, 6)];
      const r = await pool.run({ data: batch(pool, units), unitBytes: 64 * KiB, count: 3 });
      units.forEach((u, k) => assert.ok(Buffer.from(decompress(unitBytes(r, 0, k))).equals(Buffer.from(u)), `unit ${k} decodes to its input`));
      assert.ok(r.units[0]!.length < 16 * KiB && r.units[1]!.length < 100, 'compressible units shrink');
      assert.ok(r.units.every((u) => !u.stored), 'nothing is stored without storeFrom');
    } finally {
      await pool.close();
    }
  });

  for (const codec of ['deflate-raw', 'zstd'] as const) {
    it(`${codec} with storeFrom: a unit that does not compress below it comes back as it was, flagged stored`, async () => {
      const pool = new CompressPool({ codec, workers: 1, storeFrom: 64 * KiB });
      try {
        const units = [randomUnit(64 * KiB, 7), new Uint8Array(64 * KiB).fill(8)];
        const r = await pool.run({ data: batch(pool, units), unitBytes: 64 * KiB, count: 2 });
        assert.deepEqual(r.units.map((u) => u.stored), [true, false]);
        assert.equal(r.units[0]!.length, 64 * KiB);
        assert.ok(unitBytes(r, 0, 0).equals(Buffer.from(units[0]!)), 'the stored unit is the input');
        assert.equal(r.units[1]!.at, 64 * KiB, 'the next unit follows it');
      } finally {
        await pool.close();
      }
    });
  }
});
