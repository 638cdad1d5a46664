/**
 * Hostile input, part 3: deterministic mutations of the first 4 MiB of small
 * VHDXs (identifier, headers, region tables, metadata, BAT). For half of them
 * the header and region table CRC-32Cs are recomputed, so the mutation gets
 * past the checksums to the structure under test. Each mutated file must
 * open, read (capped), list its extents and describe itself, or fail with a
 * DiskImageError: never another exception, a hang or a huge allocation.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DiskImageError } from '../../../src/errors.js';
import { openImage } from '../../../src/formats/registry.js';
import type { WritableDiskImage } from '../../../src/formats/types.js';
import { snapshot } from '../../../src/ops/snapshot.js';
import { prng } from '../../helpers/prng.js';
import { tempDir } from '../../helpers/tmp.js';
import { MiB, VHDX, createPatternVhdx, fixCrcsInMemory } from '../../helpers/vhdx.js';

/** Most guest bytes read per mutated image, so a mutated size cannot make the test slow. */
const READ_CAP = 16 * MiB;

interface Outcome {
  opened: number;
  codes: Map<string, number>;
}

/** Opens `path`, reads it (up to READ_CAP), walks its extents and describes it; any error must be a DiskImageError. */
async function exercise(path: string, what: string, outcome: Outcome): Promise<void> {
  try {
    const image = await openImage(path, { onWarning: () => undefined });
    try {
      const buf = new Uint8Array(MiB);
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

const INTERESTING = [0, 1, 2, 4, 6, 7, 0x200, 0x1000, 0x100000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];

/** Applies one random mutation inside one of `regions` ([start, end) pairs); returns its description. */
function mutate(buf: Buffer, rand: () => number, regions: [number, number][]): string {
  const [start, end] = regions[Math.floor(rand() * regions.length)]!;
  const kind = Math.floor(rand() * 4);
  const at = Math.min(start + Math.floor(rand() * (end - start)), buf.length - 8);
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
  buf.writeUInt32LE(value, at);
  return `u32 ${at} = 0x${value.toString(16)}`;
}

async function fuzz(path: string, pristine: Buffer, regions: [number, number][], rounds: number, seed: number): Promise<Outcome> {
  const rand = prng(seed);
  const outcome: Outcome = { opened: 0, codes: new Map() };
  for (let round = 0; round < rounds; round++) {
    const buf = Buffer.from(pristine);
    let what = mutate(buf, rand, regions);
    if (rand() < 0.3) what += `; ${mutate(buf, rand, regions)}`;
    if (rand() < 0.5) {
      fixCrcsInMemory(buf);
      what += ' (CRCs fixed)';
    }
    writeFileSync(path, buf);
    await exercise(path, `round ${round}: ${what}`, outcome);
  }
  return outcome;
}

const M = VHDX.metadataOffset;

/** The structures of the first 4 MiB of a vdisk-made VHDX, where mutations land. */
const REGIONS: [number, number][] = [
  [0, 16],
  ...VHDX.headerOffsets.map((o): [number, number] => [o, o + 80]),
  ...VHDX.regionTableOffsets.map((o): [number, number] => [o, o + 16 + 2 * 32]),
  [M, M + 32 + 6 * 32],
  [M + VHDX.itemOffset(0), M + VHDX.itemOffset(0) + 8],
  [M + VHDX.itemOffset(1), M + VHDX.itemOffset(1) + 8],
  [M + VHDX.itemOffset(3), M + VHDX.itemOffset(4) + 4],
  [VHDX.batOffset, VHDX.batOffset + 64],
];

describe('fuzzed VHDX metadata', () => {
  it('300 mutations of the first 4 MiB of a dynamic VHDX', async () => {
    const dir = tempDir();
    const source = join(dir, 'source.vhdx');
    await createPatternVhdx(source, { size: 6 * MiB + 512, blockSize: MiB, blocks: [0, 2, 6] });
    const pristine = readFileSync(source);
    const outcome = await fuzz(join(dir, 'mutant.vhdx'), pristine, REGIONS, 300, 0xc0ffee);
    const failed = [...outcome.codes.values()].reduce((a, b) => a + b, 0);
    assert.equal(outcome.opened + failed, 300);
    assert.ok(outcome.opened > 20, `only ${outcome.opened} mutants opened`);
    assert.ok(failed > 20, `only ${failed} mutants were refused`);
    assert.ok((outcome.codes.get('CORRUPT') ?? 0) > 0, JSON.stringify([...outcome.codes]));
  });

  it('100 mutations of the metadata, parent locator and BAT of a differencing VHDX', async () => {
    const dir = tempDir();
    const base = join(dir, 'base.vhdx');
    const child = join(dir, 'child.vhdx');
    await createPatternVhdx(base, { size: 3 * MiB, blockSize: MiB, blocks: [1] });
    await snapshot(base, child);
    const w = (await openImage(child, { writable: true })) as WritableDiskImage;
    await w.writeAt(new Uint8Array(4096).fill(9), MiB + 1024);
    await w.flush();
    await w.close();
    const pristine = readFileSync(child);
    const locator = M + VHDX.itemOffset(VHDX.entry.parentLocator);
    const regions: [number, number][] = [
      [M, M + 32 + 6 * 32],
      [M + VHDX.itemOffset(0), M + VHDX.itemOffset(0) + 8],
      [locator, locator + 20 + 4 * 12],
      [locator + 68, locator + 200],
      [VHDX.batOffset, VHDX.batOffset + 32],
      [VHDX.batOffset + 4096 * 8, VHDX.batOffset + 4096 * 8 + 8],
    ];
    const outcome = await fuzz(join(dir, 'mutant.vhdx'), pristine, regions, 100, 0xbadc0de);
    assert.ok(outcome.opened > 0, 'no mutant opened');
    assert.ok((outcome.codes.get('PARENT') ?? 0) + (outcome.codes.get('CORRUPT') ?? 0) > 0, JSON.stringify([...outcome.codes]));
  });
});
