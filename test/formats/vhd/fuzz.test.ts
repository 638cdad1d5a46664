/**
 * Hostile input, part 3: deterministic mutations of the metadata of small
 * VHDs. Each mutated file must open and read, or fail with a DiskImageError
 * (any code): never another exception, a hang or a huge allocation.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DiskImageError } from '../../../src/errors.js';
import { createImage, openImage } from '../../../src/formats/registry.js';
import { vhdChecksum } from '../../../src/formats/vhd/checksum.js';
import { tempDir } from '../../helpers/tmp.js';
import { VHD, createPatternVhd } from '../../helpers/vhd.js';
import { prng } from '../../helpers/prng.js';

const BLOCK = 512 * 1024;
/** Most guest bytes read per mutated image, so a mutated size cannot make the test slow. */
const READ_CAP = 16 * 1024 * 1024;

/** Recomputes the footer (both places) and header checksums of an image held in memory. */
function fixChecksumsInMemory(buf: Buffer): void {
  for (const [at, len, sum] of [[0, 512, VHD.footerChecksum], [buf.length - 512, 512, VHD.footerChecksum], [VHD.headerOffset, 1024, VHD.headerChecksum]] as const) {
    if (at >= 0 && at + len <= buf.length) buf.writeUInt32BE(vhdChecksum(buf.subarray(at, at + len), sum), at + sum);
  }
}

interface Outcome {
  opened: number;
  codes: Map<string, number>;
}

/** Opens `path`, reads it (up to READ_CAP), walks its extents and describes it; any error must be a DiskImageError. */
async function exercise(path: string, what: string, outcome: Outcome): Promise<void> {
  try {
    const image = await openImage(path, { onWarning: () => undefined });
    try {
      const buf = new Uint8Array(256 * 1024);
      for (let pos = 0; pos < Math.min(image.virtualSize, READ_CAP); pos += buf.length) {
        await image.readAt(buf.subarray(0, Math.min(buf.length, image.virtualSize - pos)), pos);
      }
      let n = 0;
      for await (const e of image.extents()) {
        assert.ok(e.length > 0 && e.offset >= 0 && e.offset + e.length <= image.virtualSize, `${what}: bad extent ${JSON.stringify(e)}`);
        if (++n > 100000) break;
      }
      image.describe();
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

const INTERESTING = [0, 1, 4, 0x200, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];

/** Applies one random mutation inside one of `regions` ([start, end) pairs); returns its description. */
function mutate(buf: Buffer, rand: () => number, regions: [number, number][]): string {
  const [start, end] = regions[Math.floor(rand() * regions.length)]!;
  const kind = Math.floor(rand() * 3);
  if (kind === 0) {
    const at = start + Math.floor(rand() * (end - start));
    const value = Math.floor(rand() * 256);
    buf[at] = value;
    return `byte ${at} = ${value}`;
  }
  const at = Math.min(start + Math.floor(rand() * (end - start)), buf.length - 4);
  const value = kind === 1 ? Math.floor(rand() * 2 ** 32) : INTERESTING[Math.floor(rand() * INTERESTING.length)]!;
  buf.writeUInt32BE(value, at);
  return `u32 ${at} = 0x${value.toString(16)}`;
}

async function fuzz(path: string, pristine: Buffer, regions: [number, number][], rounds: number, seed: number): Promise<Outcome> {
  const rand = prng(seed);
  const outcome: Outcome = { opened: 0, codes: new Map() };
  for (let round = 0; round < rounds; round++) {
    const buf = Buffer.from(pristine);
    let what = mutate(buf, rand, regions);
    if (rand() < 0.5) {
      fixChecksumsInMemory(buf);
      what += ' (checksums fixed)';
    }
    writeFileSync(path, buf);
    await exercise(path, `round ${round}: ${what}`, outcome);
  }
  return outcome;
}

describe('fuzzed VHD metadata', () => {
  it('300 mutations of the first 2 KiB, the BAT and the end footer of a dynamic VHD', async () => {
    const dir = tempDir();
    const source = join(dir, 'source.vhd');
    await createPatternVhd(source, { size: 4 * BLOCK, blockSize: BLOCK, blocks: [0, 2] });
    const pristine = readFileSync(source);
    const regions: [number, number][] = [[0, 2048], [VHD.batOffset, VHD.batOffset + 16], [pristine.length - 512, pristine.length]];
    const outcome = await fuzz(join(dir, 'mutant.vhd'), pristine, regions, 300, 0xc0ffee);
    const failed = [...outcome.codes.values()].reduce((a, b) => a + b, 0);
    assert.equal(outcome.opened + failed, 300);
    assert.ok(outcome.opened > 20, `only ${outcome.opened} mutants opened`);
    assert.ok(failed > 20, `only ${failed} mutants were refused`);
    assert.ok((outcome.codes.get('CORRUPT') ?? 0) > 0, JSON.stringify([...outcome.codes]));
  });

  it('100 mutations of the header, locator entries and locator payloads of a differencing VHD', async () => {
    const dir = tempDir();
    const base = join(dir, 'base.vhd');
    await createPatternVhd(base, { size: 2 * BLOCK, blockSize: BLOCK, blocks: [1] });
    const parent = await openImage(base);
    const child = await createImage(join(dir, 'child.vhd'), 'vhd', { virtualSize: 2 * BLOCK, options: { block_size: '512K' }, parent });
    await child.writeAt(new Uint8Array(4096).fill(9), 1024);
    await child.flush();
    await child.close();
    const pristine = readFileSync(join(dir, 'child.vhd'));
    const regions: [number, number][] = [[512, 1536], [VHD.headerOffset + VHD.headerLocators, VHD.headerOffset + VHD.headerLocators + 72], [2048, 3584]];
    const outcome = await fuzz(join(dir, 'mutant.vhd'), pristine, regions, 100, 0xbadc0de);
    assert.ok(outcome.opened > 0, 'no mutant opened');
    assert.ok((outcome.codes.get('PARENT') ?? 0) + (outcome.codes.get('CORRUPT') ?? 0) > 0, JSON.stringify([...outcome.codes]));
  });
});
