import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EXT_BACKING_FORMAT, EXT_BITMAPS, EXT_DATA_FILE, EXT_FEATURE_NAMES } from '../../../src/formats/qcow2/constants.js';
import { parseExtensions } from '../../../src/formats/qcow2/extensions.js';
import { parseHeader, refuseUnknownFeatures } from '../../../src/formats/qcow2/header.js';
import { throwsWithCode } from '../../helpers/assert-error.js';
import { QFIELD, buildQcow2 } from '../../helpers/qcow2.js';

const MiB = 1024 * 1024;

/** The first cluster of a scripted image. */
function firstCluster(spec: Parameters<typeof buildQcow2>[0]): Buffer {
  const l = buildQcow2(spec);
  return l.bytes.subarray(0, l.clusterSize);
}

test('version 2 and 3 headers: sizes, tables, defaults of the fields version 2 lacks', () => {
  const v2 = parseHeader(firstCluster({ size: 3 * MiB, version: 2 }));
  assert.equal(v2.version, 2);
  assert.equal(v2.headerLength, 72);
  assert.equal(v2.refcountOrder, 4);
  assert.equal(v2.size, 3 * MiB);
  assert.equal(v2.clusterSize, 4096);
  assert.equal(v2.l1TableOffset, 3 * 4096);
  assert.equal(v2.compressionType, 0);
  const v3 = parseHeader(firstCluster({ size: MiB, clusterBits: 16 }));
  assert.equal(v3.version, 3);
  assert.equal(v3.headerLength, 104);
  assert.equal(v3.clusterSize, 65536);
});

test('cluster_bits outside 9-21, a bad version, bad magic and encryption are refused with codes', () => {
  for (const bits of [8, 22, 63]) {
    const b = firstCluster({ size: MiB });
    b.writeUInt32BE(bits, QFIELD.clusterBits);
    assert.match(throwsWithCode(() => parseHeader(b), 'CORRUPT').message, /cluster_bits/);
  }
  const v4 = firstCluster({ size: MiB });
  v4.writeUInt32BE(4, QFIELD.version);
  throwsWithCode(() => parseHeader(v4), 'UNSUPPORTED');
  const magic = firstCluster({ size: MiB });
  magic[0] = 0;
  throwsWithCode(() => parseHeader(magic), 'INVALID_FORMAT');
  for (const [method, name] of [[1, 'AES'], [2, 'LUKS']] as const) {
    const enc = firstCluster({ size: MiB });
    enc.writeUInt32BE(method, QFIELD.crypt);
    const err = throwsWithCode(() => parseHeader(enc), 'UNSUPPORTED');
    assert.match(err.message, /encrypted/);
    assert.match(err.message, new RegExp(name));
  }
});

test('an unknown incompatible bit is UNSUPPORTED naming the bit, and its name from the feature name table', () => {
  const names = Buffer.alloc(48);
  names[0] = 0;
  names[1] = 9;
  names.write('frobnication', 2);
  const b = firstCluster({ size: MiB, incompatible: 1n << 9n, extensions: [[EXT_FEATURE_NAMES, names]] });
  const h = parseHeader(b);
  const ext = parseExtensions(b, h.headerLength);
  const err = throwsWithCode(() => refuseUnknownFeatures(h, ext.featureNames), 'UNSUPPORTED');
  assert.match(err.message, /bit 9 \(frobnication\)/);
  assert.doesNotThrow(() => refuseUnknownFeatures(parseHeader(firstCluster({ size: MiB, clusterBits: 16, incompatible: 0b10111n })), new Map()));
});

test('compression_type must agree with the compression type bit; zstd is type 1', () => {
  const b = Buffer.from(firstCluster({ size: MiB }));
  b.writeUInt32BE(112, QFIELD.headerLength);
  b.fill(0, 104, 120);
  b[104] = 1;
  throwsWithCode(() => parseHeader(b), 'CORRUPT');
  b.writeBigUInt64BE(1n << 3n, QFIELD.incompatible);
  assert.equal(parseHeader(b).compressionType, 1);
  b[104] = 7;
  throwsWithCode(() => parseHeader(b), 'UNSUPPORTED');
});

test('header extensions: backing format, data file, bitmaps, feature names, unknown types kept', () => {
  const bitmaps = Buffer.alloc(24);
  bitmaps.writeUInt32BE(2, 0);
  bitmaps.writeBigUInt64BE(64n, 8);
  bitmaps.writeBigUInt64BE(65536n, 16);
  const b = firstCluster({
    size: MiB,
    extensions: [
      [EXT_BACKING_FORMAT, Buffer.from('raw')],
      [EXT_DATA_FILE, Buffer.from('data.raw')],
      [EXT_BITMAPS, bitmaps],
      [0x12345678, Buffer.from('x')],
    ],
  });
  const ext = parseExtensions(b, 104);
  assert.equal(ext.backingFormat, 'raw');
  assert.equal(ext.dataFile, 'data.raw');
  assert.deepEqual(ext.bitmaps, { nbBitmaps: 2, directorySize: 64, directoryOffset: 65536 });
  assert.deepEqual(ext.unknown, ['0x12345678']);
});

test('an extension whose length runs past the first cluster, a repeated one, a short bitmaps one are CORRUPT', () => {
  const long = firstCluster({ size: MiB, extensions: [[EXT_BACKING_FORMAT, Buffer.from('raw')]] });
  long.writeUInt32BE(0xfffffff0, 108);
  assert.match(throwsWithCode(() => parseExtensions(long, 104), 'CORRUPT').message, /past the first cluster/);
  const twice = firstCluster({ size: MiB, extensions: [[EXT_BACKING_FORMAT, Buffer.from('raw')], [EXT_BACKING_FORMAT, Buffer.from('raw')]] });
  throwsWithCode(() => parseExtensions(twice, 104), 'CORRUPT');
  const short = firstCluster({ size: MiB, extensions: [[EXT_BITMAPS, Buffer.alloc(8)]] });
  throwsWithCode(() => parseExtensions(short, 104), 'CORRUPT');
  const endless = firstCluster({ size: MiB });
  endless.fill(0xee, 104);
  throwsWithCode(() => parseExtensions(endless, 104), 'CORRUPT');
});
