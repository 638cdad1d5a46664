/**
 * Hostile input, part 3: deterministic mutations of the first 4 MiB of small
 * VHDXs (identifier, headers, region tables, metadata, BAT). For half of them
 * the header and region table CRC-32Cs are recomputed, so the mutation gets
 * past the checksums to the structure under test. Each mutated file must
 * open, read (capped), list its extents and describe itself, or fail with a
 * DiskImageError: never another exception, a hang or a huge allocation.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { openImage } from '../../../src/formats/registry.js';
import type { WritableDiskImage } from '../../../src/formats/types.js';
import { snapshot } from '../../../src/ops/snapshot.js';
import { tempDir } from '../../helpers/tmp.js';
import { MiB, VHDX, createPatternVhdx, fixCrcsInMemory } from '../../helpers/vhdx.js';
import { fuzz } from '../../helpers/fuzz.js';



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
    const outcome = await fuzz(join(dir, 'mutant.vhdx'), pristine, REGIONS, 300, 0xc0ffee, { littleEndian: true, fixChecksums: fixCrcsInMemory });
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
    const outcome = await fuzz(join(dir, 'mutant.vhdx'), pristine, regions, 100, 0xbadc0de, { littleEndian: true, fixChecksums: fixCrcsInMemory });
    assert.ok(outcome.opened > 0, 'no mutant opened');
    assert.ok((outcome.codes.get('PARENT') ?? 0) + (outcome.codes.get('CORRUPT') ?? 0) > 0, JSON.stringify([...outcome.codes]));
  });
});
