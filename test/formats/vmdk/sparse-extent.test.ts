/**
 * Hosted sparse VMDKs built by script (test/helpers/vmdk.ts): plain,
 * compressed with markers, GD at the end, redundant directory, zeroed and
 * absent grains read as the spec says, and check's findings on damaged ones.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { openImage } from '../../../src/formats/registry.js';
import { check } from '../../../src/ops/check.js';
import { extentsOf, readAll } from '../../helpers/images.js';
import { tempDir } from '../../helpers/tmp.js';
import { FIELD, buildSparseVmdk, expectedGuest, grainOf, type SparseSpec } from '../../helpers/vmdk.js';

const dir = tempDir('vdisk-vmdk-sparse-');
let n = 0;

/** 4 MiB disk, 4 KiB grains: two grain tables; grains 0, 1, 700 hold data, 3 is zeroed. */
function spec(extra: Partial<SparseSpec> = {}): SparseSpec {
  return { capacity: 8192, grains: new Map<number, Uint8Array | 'zero'>([[0, grainOf(4096, 1)], [1, grainOf(4096, 50)], [3, 'zero'], [700, grainOf(4096, 90)]]), ...extra };
}

function write(bytes: Buffer): string {
  const path = join(dir, `s${n++}.vmdk`);
  writeFileSync(path, bytes);
  return path;
}

async function readsAsSpec(path: string, s: SparseSpec): Promise<string[]> {
  const warnings: string[] = [];
  const image = await openImage(path, { onWarning: (w) => warnings.push(w) });
  try {
    assert.equal(image.format, 'vmdk');
    assert.equal(image.virtualSize, s.capacity * 512);
    assert.deepEqual(Buffer.from(await readAll(image)), Buffer.from(expectedGuest(s)));
    return [...warnings, ...image.describe().warnings];
  } finally {
    await image.close();
  }
}

describe('scripted sparse VMDK reads', () => {
  for (const [name, extra] of [
    ['plain', {}],
    ['compressed with markers', { compressed: true }],
    ['compressed, GD at the end (footer)', { compressed: true, gdAtEnd: true }],
    ['with a redundant directory', { redundant: true }],
  ] as const) {
    it(name, async () => {
      const s = spec(extra);
      const path = write(buildSparseVmdk(s).bytes);
      assert.deepEqual(await readsAsSpec(path, s), []);
      assert.deepEqual((await check(path)).findings, []);
    });
  }

  it('maps GTE 0 as unallocated and GTE 1 as zero, and describes the descriptor', async () => {
    const path = write(buildSparseVmdk(spec()).bytes);
    const image = await openImage(path);
    try {
      const kinds = (await extentsOf(image, true)).map((e) => [e.offset, e.length, e.kind]);
      assert.deepEqual(kinds.slice(0, 4), [
        [0, 8192, 'data'],
        [8192, 4096, 'unallocated'],
        [12288, 4096, 'zero'],
        [16384, 700 * 4096 - 16384, 'unallocated'],
      ]);
      const d = image.describe();
      assert.equal(d.subformat, 'monolithicSparse');
      assert.equal(d.uuid, '6000c29b-692f-c976-74c4-079e10873bf9');
      assert.equal(d.clusterSize, 4096);
      assert.deepEqual(d.formatSpecific?.geometry, { cylinders: 8, heads: 16, sectors: 63 });
      assert.equal(d.formatSpecific?.adapterType, 'lsilogic');
      assert.equal(d.formatSpecific?.cid, '1234abcd');
    } finally {
      await image.close();
    }
  });

  it('an empty embedded descriptor: read as one sparse extent, with a warning', async () => {
    const s = spec({ descriptor: '' });
    const warnings = await readsAsSpec(write(buildSparseVmdk(s).bytes), s);
    assert.ok(warnings.some((w) => /no embedded descriptor/.test(w)), warnings.join('|'));
  });

  it('extra extent lines in an embedded descriptor do not change what is read', async () => {
    const s = spec({ descriptor: `${'# Disk DescriptorFile\ncreateType="monolithicSparse"\n'}RW 8192 SPARSE "x.vmdk"\nRW 99999 FLAT "/etc/passwd" 0\n` });
    const warnings = await readsAsSpec(write(buildSparseVmdk(s).bytes), s);
    assert.ok(warnings.some((w) => /lists 2 extents/.test(w)), warnings.join('|'));
  });
});

it('a 1 TiB extent with no grain tables maps as one unallocated run without walking its grains', async () => {
  const l = buildSparseVmdk({ ...spec(), descriptor: '' });
  const gdEntries = 2 ** 31 / (8 * 512);
  l.bytes.writeBigUInt64LE(2n ** 31n, FIELD.capacity);
  l.bytes.writeBigUInt64LE(21n, FIELD.gdOffset);
  const path = write(Buffer.concat([l.bytes.subarray(0, 21 * 512), Buffer.alloc(gdEntries * 4)]));
  const image = await openImage(path);
  try {
    const started = Date.now();
    assert.deepEqual(await extentsOf(image, true), [{ offset: 0, length: 2 ** 40, kind: 'unallocated', depth: 0 }]);
    assert.ok(Date.now() - started < 5000, 'one run per absent table, not one per grain');
  } finally {
    await image.close();
  }
});

describe('check findings', () => {
  it('a damaged primary grain table falls back to the redundant one, and check says so', async () => {
    const s = spec({ redundant: true });
    const l = buildSparseVmdk(s);
    l.bytes.writeUInt32LE(0x7fffffff, l.gdSector * 512 + 4);
    const path = write(l.bytes);
    const warnings = await readsAsSpec(path, s);
    assert.ok(warnings.some((w) => /redundant grain directory/.test(w)), warnings.join('|'));
    const codes = (await check(path)).findings.map((f) => f.code);
    assert.ok(codes.includes('GT_OUT_OF_RANGE'), codes.join());
  });

  it('redundant tables that disagree with the primary ones', async () => {
    const l = buildSparseVmdk(spec({ redundant: true }));
    l.bytes.writeUInt32LE(0, l.bytes.readUInt32LE(l.rgdSector * 512) * 512);
    const codes = (await check(write(l.bytes))).findings.map((f) => f.code);
    assert.deepEqual(codes, ['RGD_DIFFERS']);
  });

  it('uncleanShutdown, a grain past the end, a grain table over the directory', async () => {
    const l = buildSparseVmdk(spec());
    l.bytes[FIELD.uncleanShutdown] = 1;
    l.bytes.writeUInt32LE(l.bytes.length / 512 + 10, l.gtSectors[0]! * 512 + 4);
    l.bytes.writeUInt32LE(l.gdSector, l.gdSector * 512 + 4);
    const report = await check(write(l.bytes));
    assert.equal(report.result, 'corruption');
    assert.deepEqual(report.findings.map((f) => f.code).sort(), ['GRAIN_OUT_OF_RANGE', 'GT_OVERLAPS_METADATA', 'UNCLEAN_SHUTDOWN']);
  });

  it('a descriptor whose extent is smaller than the header capacity', async () => {
    const s = spec({ descriptor: '# Disk DescriptorFile\ncreateType="monolithicSparse"\nRW 4096 SPARSE "x.vmdk"\n' });
    const codes = (await check(write(buildSparseVmdk(s).bytes))).findings.map((f) => f.code);
    assert.deepEqual(codes, ['EXTENT_SIZE_MISMATCH']);
  });
});
