/**
 * Hostile input, part 3: deterministic mutations of the metadata of small
 * VHDs. Each mutated file must open and read, or fail with a DiskImageError
 * (any code): never another exception, a hang or a huge allocation.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createImage, openImage } from '../../../src/formats/registry.js';
import { vhdChecksum } from '../../../src/formats/vhd/checksum.js';
import { tempDir } from '../../helpers/tmp.js';
import { VHD, createPatternVhd } from '../../helpers/vhd.js';
import { fuzz } from '../../helpers/fuzz.js';

const BLOCK = 512 * 1024;

/** Recomputes the footer (both places) and header checksums of an image held in memory. */
function fixChecksumsInMemory(buf: Buffer): void {
  for (const [at, len, sum] of [[0, 512, VHD.footerChecksum], [buf.length - 512, 512, VHD.footerChecksum], [VHD.headerOffset, 1024, VHD.headerChecksum]] as const) {
    if (at >= 0 && at + len <= buf.length) buf.writeUInt32BE(vhdChecksum(buf.subarray(at, at + len), sum), at + sum);
  }
}


describe('fuzzed VHD metadata', () => {
  it('300 mutations of the first 2 KiB, the BAT and the end footer of a dynamic VHD', async () => {
    const dir = tempDir();
    const source = join(dir, 'source.vhd');
    await createPatternVhd(source, { size: 4 * BLOCK, blockSize: BLOCK, blocks: [0, 2] });
    const pristine = readFileSync(source);
    const regions: [number, number][] = [[0, 2048], [VHD.batOffset, VHD.batOffset + 16], [pristine.length - 512, pristine.length]];
    const outcome = await fuzz(join(dir, 'mutant.vhd'), pristine, regions, 300, 0xc0ffee, { littleEndian: false, fixChecksums: fixChecksumsInMemory });
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
    const outcome = await fuzz(join(dir, 'mutant.vhd'), pristine, regions, 100, 0xbadc0de, { littleEndian: false, fixChecksums: fixChecksumsInMemory });
    assert.ok(outcome.opened > 0, 'no mutant opened');
    assert.ok((outcome.codes.get('PARENT') ?? 0) + (outcome.codes.get('CORRUPT') ?? 0) > 0, JSON.stringify([...outcome.codes]));
  });
});
