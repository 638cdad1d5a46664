import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DiskType, HostOs } from '../../../src/formats/vhd/constants.js';
import { decodeFooter, encodeFooter, type Footer } from '../../../src/formats/vhd/footer.js';
import { geometryForSize, geometrySize, type Geometry } from '../../../src/formats/vhd/geometry.js';
import { qemu72Size, vdiskSize } from '../../../src/formats/vhd/size-rule.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const MAX: Geometry = { cylinders: 65535, heads: 16, sectorsPerTrack: 255 };

/** A decoded footer with the given creator, current size and geometry. */
function footer(creatorApp: string, currentSize: number, g: Geometry = geometryForSize(currentSize)): Footer {
  return decodeFooter(
    encodeFooter({
      cookie: 'conectix',
      features: 2,
      formatVersion: 0x10000,
      dataOffset: 512n,
      timestamp: 0,
      creatorApp,
      creatorVersion: 0x10000,
      creatorHostOs: HostOs.windows,
      originalSize: BigInt(currentSize),
      currentSize: BigInt(currentSize),
      cylinders: g.cylinders,
      heads: g.heads,
      sectorsPerTrack: g.sectorsPerTrack,
      diskType: DiskType.dynamic,
      checksum: 0,
      uniqueId: new Uint8Array(16),
      savedState: 0,
    }),
    'test',
  );
}

const TEN = 10 * MiB;
const TEN_CHS = 10479616;

describe('vdiskSize', () => {
  it('sizes "win ", "qem2" and "wa\\0\\0" by current size', () => {
    for (const app of ['win ', 'qem2', 'wa\0\0', 'd2v ', 'CTXS', 'vbox']) {
      assert.deepEqual(vdiskSize(footer(app, TEN)), { size: TEN, rule: 'current-size' }, JSON.stringify(app));
    }
  });

  it('sizes "vpc " and "qemu" by CHS', () => {
    for (const app of ['vpc ', 'qemu']) assert.deepEqual(vdiskSize(footer(app, TEN)), { size: TEN_CHS, rule: 'chs' }, app);
  });

  it('never takes a CHS size larger than the current size', () => {
    const f = footer('qemu', 1 * MiB, { cylinders: 100, heads: 16, sectorsPerTrack: 63 });
    assert.equal(geometrySize(f.geometry) > MiB, true);
    assert.deepEqual(vdiskSize(f), { size: MiB, rule: 'chs' });
  });

  it('sizes a max-geometry footer by current size whatever the creator', () => {
    for (const app of ['vpc ', 'qemu', 'qem2', 'win ']) {
      assert.deepEqual(vdiskSize(footer(app, 200 * GiB, MAX)), { size: 200 * GiB, rule: 'current-size' }, app);
    }
  });

  it('rounds a current size down to whole sectors', () => {
    assert.equal(vdiskSize(footer('win ', TEN + 100, geometryForSize(TEN))).size, TEN);
  });
});

describe('qemu72Size', () => {
  it('uses current size for "win " and "qem2"', () => {
    assert.equal(qemu72Size(footer('win ', TEN)), TEN);
    assert.equal(qemu72Size(footer('qem2', TEN)), TEN);
  });

  it('uses CHS for "qemu", "vpc " and Azure\'s "wa\\0\\0"', () => {
    assert.equal(qemu72Size(footer('qemu', TEN)), TEN_CHS);
    assert.equal(qemu72Size(footer('vpc ', TEN)), TEN_CHS);
    assert.equal(qemu72Size(footer('wa\0\0', TEN)), TEN_CHS);
  });

  it('reads an Azure 1 GiB footer 8 MiB short, and max geometry by current size', () => {
    assert.equal(qemu72Size(footer('wa\0\0', GiB)), 2080 * 16 * 63 * 512);
    assert.equal(vdiskSize(footer('wa\0\0', GiB)).size, GiB);
    assert.equal(qemu72Size(footer('wa\0\0', 200 * GiB, MAX)), 200 * GiB);
    assert.equal(qemu72Size(footer('vpc ', 200 * GiB, MAX)), 200 * GiB);
  });
});
