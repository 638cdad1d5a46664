import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { DiskImageError } from '../../src/errors.js';
import { openImage } from '../../src/formats/registry.js';
import { prng } from './prng.js';

/** How many mutants opened, and the error codes of the others. */
export interface FuzzOutcome {
  opened: number;
  codes: Map<string, number>;
}

/** Most guest bytes read (and extents walked) per mutant, so a mutated size cannot make a test slow. */
const READ_CAP = 16 * 1024 * 1024;

/** u32 values worth trying: limits, sector and MiB multiples, block states. */
const INTERESTING = [0, 1, 2, 4, 6, 7, 0x200, 0x1000, 0x100000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];

/** Opens `path`, reads it (capped), walks its extents, describes and checks it; any error must be a DiskImageError. */
async function exercise(path: string, what: string, outcome: FuzzOutcome): Promise<void> {
  try {
    const image = await openImage(path, { onWarning: () => undefined });
    try {
      const buf = new Uint8Array(256 * 1024);
      for (let pos = 0; pos < Math.min(image.virtualSize, READ_CAP); pos += buf.length) {
        await image.readAt(buf.subarray(0, Math.min(buf.length, image.virtualSize - pos)), pos);
      }
      let n = 0;
      for await (const e of image.extents({ offset: 0, length: READ_CAP })) {
        assert.ok(e.length > 0 && e.offset >= 0 && e.offset + e.length <= image.virtualSize, `${what}: bad extent ${JSON.stringify(e)}`);
        if (++n > 100000) break;
      }
      image.describe();
      await image.check();
    } finally {
      await image.close();
    }
    outcome.opened++;
  } catch (err) {
    if (!(err instanceof DiskImageError)) {
      assert.fail(`${what}: threw ${err instanceof Error ? `${err.name}: ${err.message}\n${err.stack}` : String(err)}`);
    }
    outcome.codes.set(err.code, (outcome.codes.get(err.code) ?? 0) + 1);
  }
}

/** Applies one random mutation inside one of `regions` ([start, end) pairs): a byte, a bit flip or a u32; returns its description. */
function mutate(buf: Buffer, rand: () => number, regions: [number, number][], littleEndian: boolean): string {
  const [start, end] = regions[Math.floor(rand() * regions.length)]!;
  const kind = Math.floor(rand() * 4);
  const at = Math.min(start + Math.floor(rand() * (end - start)), buf.length - 4);
  if (kind === 0) {
    const value = Math.floor(rand() * 256);
    buf[at] = value;
    return `byte ${at} = ${value}`;
  }
  if (kind === 3) {
    const bit = Math.floor(rand() * 8);
    buf[at]! ^= 1 << bit;
    return `byte ${at} bit ${bit} flipped`;
  }
  const value = kind === 1 ? Math.floor(rand() * 2 ** 32) : INTERESTING[Math.floor(rand() * INTERESTING.length)]!;
  if (littleEndian) buf.writeUInt32LE(value, at);
  else buf.writeUInt32BE(value, at);
  return `u32 ${at} = 0x${value.toString(16)}`;
}

/** What a format's fuzz run needs: its byte order and how to recompute its checksums in memory. */
export interface FuzzTarget {
  littleEndian: boolean;
  fixChecksums: (buf: Buffer) => void;
}

/**
 * Writes `rounds` seeded mutants of `pristine` to `path` (one or two
 * mutations each, checksums recomputed for half of them so the mutation gets
 * past them) and exercises each.
 */
export async function fuzz(path: string, pristine: Buffer, regions: [number, number][], rounds: number, seed: number, target: FuzzTarget): Promise<FuzzOutcome> {
  const rand = prng(seed);
  const outcome: FuzzOutcome = { opened: 0, codes: new Map() };
  for (let round = 0; round < rounds; round++) {
    const buf = Buffer.from(pristine);
    let what = mutate(buf, rand, regions, target.littleEndian);
    if (rand() < 0.3) what += `; ${mutate(buf, rand, regions, target.littleEndian)}`;
    if (rand() < 0.5) {
      target.fixChecksums(buf);
      what += ' (checksums fixed)';
    }
    writeFileSync(path, buf);
    await exercise(path, `round ${round}: ${what}`, outcome);
  }
  return outcome;
}
