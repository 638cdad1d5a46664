/** The descriptor parser ("The Descriptor File"): keys, extent lines, the disk database, and the limits on hostile text. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { descriptorText, parseDescriptor } from '../../../src/formats/vmdk/descriptor.js';
import { throwsWithCode } from '../../helpers/assert-error.js';
import { VMDK_MAX_DESCRIPTOR_BYTES, VMDK_MAX_EXTENTS } from '../../../src/limits.js';

const QEMU_DELTA = `# Disk DescriptorFile
version=1
CID=c6a06065
parentCID=2c49d5e5
createType="twoGbMaxExtentSparse"
parentFileNameHint="base.vmdk"
# Extent description
RW 4192256 SPARSE "child-s001.vmdk"
RDONLY 1024 FLAT "child-f002.vmdk" 2048
NOACCESS 8 ZERO

# The Disk Data Base
#DDB

ddb.virtualHWVersion = "4"
ddb.geometry.cylinders = "4161"
ddb.geometry.heads = "16"
ddb.geometry.sectors = "63"
ddb.adapterType = "ide"
ddb.toolsVersion = "2147483647"
`;

describe('parseDescriptor', () => {
  it('reads the header keys, the extents in order and the ddb keys', () => {
    const d = parseDescriptor(QEMU_DELTA.replace(/\n/g, '\r\n'));
    assert.equal(d.version, 1);
    assert.equal(d.cid, 0xc6a06065);
    assert.equal(d.parentCid, 0x2c49d5e5);
    assert.equal(d.createType, 'twoGbMaxExtentSparse');
    assert.equal(d.parentFileNameHint, 'base.vmdk');
    assert.deepEqual(d.extents, [
      { access: 'RW', sectors: 4192256, type: 'SPARSE', file: 'child-s001.vmdk', offset: 0, line: 8 },
      { access: 'RDONLY', sectors: 1024, type: 'FLAT', file: 'child-f002.vmdk', offset: 2048, line: 9 },
      { access: 'NOACCESS', sectors: 8, type: 'ZERO', file: undefined, offset: 0, line: 10 },
    ]);
    assert.equal(d.ddb.adapterType, 'ide');
    assert.equal(d.ddb['geometry.cylinders'], '4161');
    assert.deepEqual(d.warnings, []);
  });

  it('defaults: no CID keys means no parent', () => {
    const d = parseDescriptor('createType="monolithicFlat"\nRW 8 FLAT "a b.vmdk"\n');
    assert.equal(d.parentCid, 0xffffffff);
    assert.equal(d.extents[0]!.file, 'a b.vmdk');
  });

  it('refuses what a damaged or hostile descriptor holds', () => {
    const base = 'createType="monolithicFlat"\n';
    for (const text of [
      'version=1\n',
      `${base}createType="vmfs"\n`,
      `${base}CID=1\nCID=2\n`,
      `${base}parentCID=xyz\n`,
      `${base}version=7\n`,
      `${base}RW 8 FLAT\n`,
      `${base}RW 8 BOGUS "x"\n`,
      `${base}RW 8 FLAT ""\n`,
      `${base}RW -8 FLAT "x"\n`,
      `${base}RW 99999999999999999999 FLAT "x"\n`,
      `${base}RW 9007199254740 FLAT "x"\nRW 9007199254740 FLAT "y"\n`,
      `${base}${'RW 1 ZERO\n'.repeat(VMDK_MAX_EXTENTS + 1)}`,
    ]) {
      throwsWithCode(() => parseDescriptor(text), 'CORRUPT');
    }
  });

  it('warns on a line that is neither a key nor an extent', () => {
    assert.equal(parseDescriptor('createType="x"\nhello world\n').warnings.length, 1);
  });
});

describe('descriptorText', () => {
  const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

  it('stops at the NUL padding of an embedded descriptor area', () => {
    const area = new Uint8Array(1024);
    area.set(enc('createType="x"\n'));
    assert.equal(descriptorText(area), 'createType="x"\n');
  });

  it('ends the text at the first NUL, as C readers do: what a shorter CID left behind after it is ignored', () => {
    // qemu rewrote CID=12345678 as CID=1234567 in place: the old text's last byte follows the new NUL.
    const area = new Uint8Array(64);
    area.set(enc('CID=1234567\ncreateType="x"\n\0\n'));
    assert.equal(descriptorText(area), 'CID=1234567\ncreateType="x"\n');
  });

  it('refuses control characters and oversized text', () => {
    throwsWithCode(() => descriptorText(enc('createType="x"\x1b[2J\n')), 'CORRUPT');
    throwsWithCode(() => descriptorText(new Uint8Array(VMDK_MAX_DESCRIPTOR_BYTES + 1).fill(0x20)), 'CORRUPT');
  });
});
