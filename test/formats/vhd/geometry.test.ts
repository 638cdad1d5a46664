import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_CHS_SECTORS } from '../../../src/formats/vhd/constants.js';
import { geometryForSize, geometrySize, isMaxGeometry } from '../../../src/formats/vhd/geometry.js';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

describe('geometryForSize (spec CHS algorithm)', () => {
  it('gives what Hyper-V wrote for node-vhd fixed.vhd (10 MiB -> 301/4/17)', () => {
    const g = geometryForSize(10 * MiB);
    assert.deepEqual(g, { cylinders: 301, heads: 4, sectorsPerTrack: 17 });
    assert.equal(geometrySize(g), 10479616);
  });

  it('gives what Hyper-V wrote for node-vhd dynamic.vhd (512 MiB -> 1040/16/63)', () => {
    assert.deepEqual(geometryForSize(512 * MiB), { cylinders: 1040, heads: 16, sectorsPerTrack: 63 });
  });

  it('walks the 17 -> 31 -> 63 sectors-per-track steps', () => {
    assert.deepEqual(geometryForSize(1 * MiB), { cylinders: 30, heads: 4, sectorsPerTrack: 17 });
    // 64 MiB: 17 spt would need 8 heads x 963 cylinders; still 17.
    assert.deepEqual(geometryForSize(64 * MiB), { cylinders: 963, heads: 8, sectorsPerTrack: 17 });
    // 200 MiB: 17 spt would need 24 heads, so 31/16.
    assert.deepEqual(geometryForSize(200 * MiB), { cylinders: 825, heads: 16, sectorsPerTrack: 31 });
    assert.deepEqual(geometryForSize(1 * GiB), { cylinders: 2080, heads: 16, sectorsPerTrack: 63 });
  });

  it('switches to 255 sectors per track at 65535*16*63 sectors', () => {
    const edge = 65535 * 16 * 63 * 512;
    assert.deepEqual(geometryForSize(edge), { cylinders: 16191, heads: 16, sectorsPerTrack: 255 });
    assert.deepEqual(geometryForSize(edge - 512), { cylinders: 65534, heads: 16, sectorsPerTrack: 63 });
  });

  it('uses 255 sectors below the maximum (127 GiB is not yet the max geometry)', () => {
    const g = geometryForSize(127 * GiB);
    assert.deepEqual(g, { cylinders: 65278, heads: 16, sectorsPerTrack: 255 });
    assert.equal(isMaxGeometry(g), false);
  });

  it('caps at 65535/16/255 for 128 GiB and beyond', () => {
    for (const size of [128 * GiB, 200 * GiB, 2040 * GiB, 2 ** 52]) {
      const g = geometryForSize(size);
      assert.deepEqual(g, { cylinders: 65535, heads: 16, sectorsPerTrack: 255 }, String(size));
      assert.equal(isMaxGeometry(g), true);
      assert.equal(geometrySize(g), MAX_CHS_SECTORS * 512);
    }
  });

  it('never addresses more than the size it was given, for many sizes', () => {
    for (let size = 512; size < 300 * GiB; size = Math.floor(size * 1.37) + 512) {
      const g = geometryForSize(size);
      assert.ok(geometrySize(g) <= size, `${size}: ${JSON.stringify(g)}`);
      assert.ok(g.heads >= 4 && g.heads <= 16 && g.cylinders <= 65535, `${size}: ${JSON.stringify(g)}`);
    }
  });
});

describe('isMaxGeometry', () => {
  it('is true only for the product 65535*16*255', () => {
    assert.equal(isMaxGeometry({ cylinders: 65535, heads: 16, sectorsPerTrack: 255 }), true);
    assert.equal(isMaxGeometry({ cylinders: 65535, heads: 16, sectorsPerTrack: 63 }), false);
    assert.equal(isMaxGeometry({ cylinders: 65534, heads: 16, sectorsPerTrack: 255 }), false);
  });
});
