/**
 * ESX sparse (COWD) extents, the VMFSSPARSE extents of vmfsSparse delta
 * disks, built by script: read through a descriptor over their parent, and
 * refused with a coded error when damaged or opened alone.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { ErrorCode } from '../../../src/errors.js';
import { openImage } from '../../../src/formats/registry.js';
import { check } from '../../../src/ops/check.js';
import { rejectsWithCode } from '../../helpers/assert-error.js';
import { readAll } from '../../helpers/images.js';
import { tempDir } from '../../helpers/tmp.js';
import { buildCowdExtent, grainOf, openOrReadFails } from '../../helpers/vmdk.js';

const SECTORS = 16384;
const dir = tempDir('vdisk-vmdk-cowd-');
let n = 0;

/** A flat base (CID 0000abcd, bytes 0x33) and a vmfsSparse delta over it whose COWD extent holds grains 1 and 9000 (1-sector grains). */
function chain(damage?: (cowd: Buffer) => void): { child: string; base: Buffer; grains: Map<number, Uint8Array> } {
  const k = n++;
  const base = Buffer.alloc(SECTORS * 512, 0x33);
  writeFileSync(join(dir, `base${k}-flat.vmdk`), base);
  writeFileSync(join(dir, `base${k}.vmdk`), `# Disk DescriptorFile\nversion=1\nCID=0000abcd\nparentCID=ffffffff\ncreateType="vmfs"\nRW ${SECTORS} VMFS "base${k}-flat.vmdk"\n`);
  const grains = new Map([[1, grainOf(512, 5)], [9000, grainOf(512, 77)]]);
  const cowd = buildCowdExtent(SECTORS, 1, grains).bytes;
  damage?.(cowd);
  writeFileSync(join(dir, `child${k}-delta.vmdk`), cowd);
  const child = join(dir, `child${k}.vmdk`);
  writeFileSync(child, `# Disk DescriptorFile\nversion=1\nCID=12121212\nparentCID=0000abcd\ncreateType="vmfsSparse"\nparentFileNameHint="base${k}.vmdk"\nRW ${SECTORS} VMFSSPARSE "child${k}-delta.vmdk"\n`);
  return { child, base, grains };
}

describe('vmfsSparse (COWD) deltas', () => {
  it('read through the chain: their grains over the parent', async () => {
    const { child, base, grains } = chain();
    const image = await openImage(child);
    try {
      assert.equal(image.describe().subformat, 'vmfsSparse');
      const want = Buffer.from(base);
      for (const [i, g] of grains) want.set(g, i * 512);
      assert.deepEqual(Buffer.from(await readAll(image)), want);
    } finally {
      await image.close();
    }
    assert.deepEqual((await check(child)).findings, []);
  });

  for (const [name, damage, code, why] of [
    ['version 2', (b: Buffer) => b.writeUInt32LE(2, 4), 'UNSUPPORTED', /version 2/],
    ['grainSize 0', (b: Buffer) => b.writeUInt32LE(0, 16), 'CORRUPT', /grainSize 0/],
    ['numGDEntries too few for the capacity', (b: Buffer) => b.writeUInt32LE(3, 24), 'CORRUPT', /numGDEntries 3/],
    ['GD inside the 2048-byte header', (b: Buffer) => b.writeUInt32LE(2, 20), 'CORRUPT', /grain directory at sector 2/],
    ['a grain past the end', (b: Buffer) => b.writeUInt32LE(0x0fffffff, b.readUInt32LE(4 * 512) * 512 + 4), 'CORRUPT', /past the end/],
  ] as const) {
    it(`refuses ${name}`, async () => {
      const { child } = chain(damage);
      const err = await openOrReadFails(child, code as ErrorCode);
      assert.match(err.message, why);
    });
  }

  it('a COWD extent opened alone is refused, naming what to open', async () => {
    const path = join(dir, 'alone.vmdk');
    writeFileSync(path, buildCowdExtent(SECTORS, 1, new Map()).bytes);
    const err = await rejectsWithCode(openImage(path), 'UNSUPPORTED');
    assert.match(err.message, /COWD.*descriptor/);
  });
});
