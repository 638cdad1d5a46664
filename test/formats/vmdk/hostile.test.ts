/**
 * Hostile VMDKs built by script: each must fail with a coded DiskImageError
 * (at open or at the read that meets the damage), never crash, hang or
 * allocate in proportion to a field it has not checked.
 */
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { deflateSync } from 'node:zlib';
import type { ErrorCode } from '../../../src/errors.js';
import { openImage } from '../../../src/formats/registry.js';
import { readAll } from '../../helpers/images.js';
import { tempDir } from '../../helpers/tmp.js';
import { FIELD, buildSparseVmdk, grainOf, openOrReadFails, type SparseLayout } from '../../helpers/vmdk.js';

const dir = tempDir('vdisk-vmdk-hostile-');
let n = 0;

function sparse(compressed = false): SparseLayout {
  return buildSparseVmdk({ capacity: 8192, compressed, grains: new Map<number, Uint8Array | 'zero'>([[0, grainOf(4096, 7)], [600, grainOf(4096, 9)]]) });
}

function write(bytes: Buffer | string, name = `h${n++}.vmdk`): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

/** Opens and reads the whole disk; the failure must carry `code`. Returns its message. */
async function failsWith(path: string, code: ErrorCode): Promise<string> {
  return (await openOrReadFails(path, code)).message;
}

describe('hostile sparse headers and tables', () => {
  const cases: [string, (l: SparseLayout) => void, ErrorCode][] = [
    ['numGTEsPerGT 0', (l) => l.bytes.writeUInt32LE(0, FIELD.numGTEsPerGT), 'CORRUPT'],
    ['numGTEsPerGT 2^32-1', (l) => l.bytes.writeUInt32LE(0xffffffff, FIELD.numGTEsPerGT), 'CORRUPT'],
    ['grainSize not a power of two', (l) => l.bytes.writeBigUInt64LE(24n, FIELD.grainSize), 'CORRUPT'],
    ['grainSize 2^40 sectors', (l) => l.bytes.writeBigUInt64LE(2n ** 40n, FIELD.grainSize), 'CORRUPT'],
    ['grainSize 0', (l) => l.bytes.writeBigUInt64LE(0n, FIELD.grainSize), 'CORRUPT'],
    ['capacity 2^62 sectors', (l) => l.bytes.writeBigUInt64LE(2n ** 62n, FIELD.capacity), 'CORRUPT'],
    ['capacity needing a directory larger than the file', (l) => l.bytes.writeBigUInt64LE(2n ** 40n, FIELD.capacity), 'CORRUPT'],
    ['GD pointing into the header', (l) => l.bytes.writeBigUInt64LE(0n, FIELD.gdOffset), 'CORRUPT'],
    ['GD past the end of the file', (l) => l.bytes.writeBigUInt64LE(1n << 40n, FIELD.gdOffset), 'CORRUPT'],
    ['version 4', (l) => l.bytes.writeUInt32LE(4, FIELD.version), 'UNSUPPORTED'],
    ['GT pointer past the end', (l) => l.bytes.writeUInt32LE(0x7fffffff, l.gdSector * 512), 'CORRUPT'],
    ['GT starting in the file and ending past it', (l) => l.bytes.writeUInt32LE(l.bytes.length / 512 - 1, l.gdSector * 512 + 4), 'CORRUPT'],
    ['grain pointer past the end', (l) => l.bytes.writeUInt32LE(0x00ffffff, l.gtSectors[0]! * 512), 'CORRUPT'],
    ['embedded descriptor past the end', (l) => l.bytes.writeBigUInt64LE(1n << 30n, FIELD.descriptorOffset), 'CORRUPT'],
    ['a NUL inside the embedded descriptor', (l) => (l.bytes[512 + 20] = 0), 'CORRUPT'],
    ['an escape sequence in the embedded descriptor', (l) => (l.bytes[512 + 20] = 0x1b), 'CORRUPT'],
    ['GD_AT_END without a footer', (l) => l.bytes.writeBigUInt64LE(0xffffffffffffffffn, FIELD.gdOffset), 'CORRUPT'],
  ];
  for (const [name, damage, code] of cases) {
    it(name, async () => {
      const l = sparse();
      damage(l);
      await failsWith(write(l.bytes), code);
    });
  }

  it('a 10^6-line embedded descriptor area is refused without reading it all', async () => {
    const l = sparse();
    l.bytes.writeBigUInt64LE(BigInt(2 ** 20), FIELD.descriptorSize);
    const lines = Buffer.from('RW 1 ZERO\n'.repeat(1_000_000));
    await failsWith(write(Buffer.concat([l.bytes.subarray(0, 512), lines, l.bytes.subarray(512 + lines.length)])), 'CORRUPT');
  });
});

describe('hostile compressed grains', () => {
  /** The marker of grain 600 (at its GTE), to patch. */
  const marker = (l: SparseLayout): number => l.grainSectors.get(600)! * 512;

  it('a compressed length past the end of the file', async () => {
    const l = sparse(true);
    l.bytes.writeUInt32LE(4000, marker(l) + 8);
    assert.match(await failsWith(write(l.bytes.subarray(0, marker(l) + 1024)), 'CORRUPT'), /past the end|not from 1/);
  });

  it('a compressed length larger than any grain compresses to', async () => {
    const l = sparse(true);
    l.bytes.writeUInt32LE(0x7fffffff, marker(l) + 8);
    await failsWith(write(l.bytes), 'CORRUPT');
  });

  it('a marker naming another grain', async () => {
    const l = sparse(true);
    l.bytes.writeBigUInt64LE(8n, marker(l));
    await failsWith(write(l.bytes), 'CORRUPT');
  });

  it('a zlib bomb: 1 MiB of zeros in a 4 KiB grain', async () => {
    const l = sparse(true);
    const bomb = deflateSync(Buffer.alloc(1024 * 1024));
    assert.ok(bomb.length < 4096);
    l.bytes.writeUInt32LE(bomb.length, marker(l) + 8);
    bomb.copy(l.bytes, marker(l) + 12);
    await failsWith(write(Buffer.concat([l.bytes, Buffer.alloc(4096)])), 'CORRUPT');
  });

  it('garbage instead of deflate data', async () => {
    const l = sparse(true);
    l.bytes.fill(0x55, marker(l) + 12, marker(l) + 40);
    await failsWith(write(l.bytes), 'CORRUPT');
  });
});

describe('hostile descriptor files', () => {
  const sub = join(dir, 'sandbox');
  mkdirSync(sub, { recursive: true });
  writeFileSync(join(dir, 'outside-flat.vmdk'), Buffer.alloc(4096, 0x61));
  writeFileSync(join(sub, 'ok-flat.vmdk'), Buffer.alloc(4096, 0x62));
  symlinkSync(join(dir, 'outside-flat.vmdk'), join(sub, 'link-flat.vmdk'));
  const desc = (extents: string, extra = ''): string => `# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType="monolithicFlat"\n${extra}${extents}\n`;
  const file = (text: string): string => write(text, join('sandbox', `d${n++}.vmdk`));

  for (const [name, text, code] of [
    ['an extent climbing out with ..', desc('RW 8 FLAT "../outside-flat.vmdk" 0'), 'CORRUPT'],
    ['an absolute extent path', desc(`RW 8 FLAT "${join(dir, 'outside-flat.vmdk')}" 0`), 'CORRUPT'],
    ['a Windows absolute extent path', desc('RW 8 FLAT "C:\\\\disks\\\\outside-flat.vmdk" 0'), 'CORRUPT'],
    ['a symlinked extent leading outside', desc('RW 8 FLAT "link-flat.vmdk" 0'), 'CORRUPT'],
    ['a flat extent longer than its file', desc('RW 16 FLAT "ok-flat.vmdk" 0'), 'CORRUPT'],
    ['a flat extent offset past its file', desc('RW 8 FLAT "ok-flat.vmdk" 9000000000'), 'CORRUPT'],
    ['a missing extent file', desc('RW 8 FLAT "gone-flat.vmdk" 0'), 'IO'],
    ['no extents', desc(''), 'CORRUPT'],
    ['a VMFSSPARSE extent whose file is no COWD', desc('RW 8 VMFSSPARSE "ok-flat.vmdk"'), 'INVALID_FORMAT'],
    ['a SESPARSE extent whose file is no seSparse', desc('RW 8 SESPARSE "ok-flat.vmdk"'), 'INVALID_FORMAT'],
    ['a NOACCESS extent', desc('NOACCESS 8 FLAT "ok-flat.vmdk" 0'), 'UNSUPPORTED'],
    ['a sparse extent that is flat bytes', desc('RW 8 SPARSE "ok-flat.vmdk"'), 'INVALID_FORMAT'],
    ['a second CID line', desc('RW 8 FLAT "ok-flat.vmdk" 0', 'CID=12345678\n'), 'CORRUPT'],
    ['a NUL in the descriptor file', desc('RW 8 FLAT "ok-flat.vmdk\u0000" 0'), 'CORRUPT'],
    ['10^6 extent lines', desc('RW 1 FLAT "ok-flat.vmdk" 0\n'.repeat(1_000_000)), 'CORRUPT'],
    ['a parent CID with no hint', desc('RW 8 FLAT "ok-flat.vmdk" 0').replace('parentCID=ffffffff', 'parentCID=12345678'), 'PARENT'],
  ] as const) {
    it(name, async () => {
      await failsWith(file(text), code);
    });
  }

  it('the same descriptor with sane FLAT, VMFS (vmfsThin) and ZERO extents reads their bytes', async () => {
    const text = desc('RW 4 FLAT "ok-flat.vmdk" 4\nRDONLY 8 ZERO\nRW 8 VMFS "ok-flat.vmdk"').replace('monolithicFlat', 'vmfsThin');
    const image = await openImage(file(text));
    try {
      assert.equal(image.describe().subformat, 'vmfsThin');
      assert.deepEqual(Buffer.from(await readAll(image)), Buffer.concat([Buffer.alloc(2048, 0x62), Buffer.alloc(4096), Buffer.alloc(4096, 0x62)]));
    } finally {
      await image.close();
    }
  });
});
