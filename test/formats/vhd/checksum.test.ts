import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { vhdChecksum } from '../../../src/formats/vhd/checksum.js';
import { HYPERV_DYNAMIC_FOOTER_HEX, HYPERV_DYNAMIC_HEADER_HEX, HYPERV_FIXED_FOOTER_HEX, fromHex } from '../../helpers/vhd-vectors.js';

describe('vhdChecksum', () => {
  it('matches the checksums Hyper-V wrote in footers and a dynamic header', () => {
    assert.equal(vhdChecksum(fromHex(HYPERV_FIXED_FOOTER_HEX, 512), 64), 0xffffe5d0);
    assert.equal(vhdChecksum(fromHex(HYPERV_DYNAMIC_FOOTER_HEX, 512), 64), 0xffffee8a);
    assert.equal(vhdChecksum(fromHex(HYPERV_DYNAMIC_HEADER_HEX, 1024), 36), 0xfffff476);
  });

  it('is the one\'s complement of the byte sum, skipping the 4 checksum bytes', () => {
    assert.equal(vhdChecksum(new Uint8Array(512), 64), 0xffffffff);
    const buf = new Uint8Array(16);
    buf[0] = 1;
    buf[15] = 2;
    buf.set([0xff, 0xff, 0xff, 0xff], 4);
    assert.equal(vhdChecksum(buf, 4), ~3 >>> 0);
    assert.equal(vhdChecksum(buf, 8), ~(3 + 4 * 0xff) >>> 0);
  });

  it('changes with any byte outside the checksum field', () => {
    const base = fromHex(HYPERV_FIXED_FOOTER_HEX, 512);
    const sum = vhdChecksum(base, 64);
    for (const pos of [0, 63, 68, 511]) {
      const b = base.slice();
      b[pos] = b[pos]! ^ 0x10;
      assert.notEqual(vhdChecksum(b, 64), sum, `byte ${pos}`);
    }
    const c = base.slice();
    c[65] = c[65]! ^ 0x10;
    assert.equal(vhdChecksum(c, 64), sum);
  });

  it('stays a u32 for a large all-0xff buffer', () => {
    assert.equal(vhdChecksum(new Uint8Array(1024).fill(0xff), 36), ~(1020 * 255) >>> 0);
  });
});
