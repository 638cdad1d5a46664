/**
 * ESXi seSparse extents (SESPARSE), built by script in the layout qemu reads:
 * read alone and as a snapshot over a flat parent, byte-equal to what
 * `qemu-img convert` makes of the same files; refused as read-only; damaged
 * headers and entries refused with a coded error and reported by check.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { ErrorCode } from '../../../src/errors.js';
import { openImage } from '../../../src/formats/registry.js';
import { check } from '../../../src/ops/check.js';
import { convert } from '../../../src/ops/convert.js';
import { rejectsWithCode } from '../../helpers/assert-error.js';
import { readAll } from '../../helpers/images.js';
import { needTools, run } from '../../helpers/oracles.js';
import { fillPattern } from '../../helpers/pattern-disk.js';
import { buildSeSparse, seSparseDescriptor, type SeSparseGrain } from '../../helpers/sesparse-image.js';
import { tempDir } from '../../helpers/tmp.js';
import { openOrReadFails } from '../../helpers/vmdk.js';

/** Four grain tables' span (64 MiB) less three sectors: the last grain is partial. */
const SECTORS = 4 * 32768 - 3;
const GRAIN = 4096;
const dir = tempDir('vdisk-vmdk-sesparse-');
let n = 0;

function grainBytes(index: number): Uint8Array {
  const bytes = new Uint8Array(GRAIN);
  fillPattern(bytes, index * GRAIN, 0x5e5e);
  return bytes;
}

/** Grains in tables 0, 1 and 3 (table 2 has none): data stored at numbers on both sides of 4096, a zero and an unmapped grain, and the partial last grain. */
function grains(): Map<number, SeSparseGrain> {
  const data = (index: number, number: number): [number, SeSparseGrain] => [index, { kind: 'data', bytes: grainBytes(index), number }];
  return new Map<number, SeSparseGrain>([
    data(0, 4096), data(1, 0), data(4095, 4097), data(4096, 1), data(5000, 8191),
    [5, { kind: 'zero' }], [6, { kind: 'unmapped' }],
    data(Math.floor((SECTORS * 512 - 1) / GRAIN), 2),
  ]);
}

/** Writes a seSparse disk (over a flat parent of bytes 0x33 when `snapshot`), `damage` applied to the extent; returns the descriptor's path. */
function disk(snapshot: boolean, damage?: (extent: Buffer) => void): string {
  const k = n++;
  const extent = Buffer.from(buildSeSparse(SECTORS, grains()));
  damage?.(extent);
  writeFileSync(join(dir, `d${k}-sesparse.vmdk`), extent);
  if (snapshot) {
    writeFileSync(join(dir, `base${k}-flat.vmdk`), Buffer.alloc(SECTORS * 512, 0x33));
    writeFileSync(join(dir, `base${k}.vmdk`), `# Disk DescriptorFile\nversion=1\nCID=0000abcd\nparentCID=ffffffff\ncreateType="vmfs"\nRW ${SECTORS} VMFS "base${k}-flat.vmdk"\n`);
  }
  const path = join(dir, `d${k}.vmdk`);
  writeFileSync(path, seSparseDescriptor(`d${k}-sesparse.vmdk`, SECTORS, snapshot ? { hint: `base${k}.vmdk`, cid: 0xabcd } : undefined));
  return path;
}

/** The guest view the grains make: data where stored, zeros for zero and unmapped grains, the parent's bytes (or zeros) elsewhere. */
function expected(snapshot: boolean): Buffer {
  const want = Buffer.alloc(SECTORS * 512, snapshot ? 0x33 : 0);
  for (const [index, g] of grains()) {
    const at = index * GRAIN;
    const bytes = g.kind === 'data' ? g.bytes : new Uint8Array(GRAIN);
    want.set(bytes.subarray(0, Math.min(GRAIN, want.length - at)), at);
  }
  return want;
}

describe('seSparse extents', () => {
  for (const snapshot of [false, true]) {
    it(`read ${snapshot ? 'as a snapshot over a flat parent' : 'alone'}, as qemu-img reads them`, async (t) => {
      const path = disk(snapshot);
      const image = await openImage(path);
      try {
        assert.equal(image.describe().subformat, 'seSparse');
        assert.equal(image.virtualSize, SECTORS * 512);
        assert.equal(image.describe().clusterSize, GRAIN);
        assert.ok(Buffer.from(await readAll(image)).equals(expected(snapshot)));
      } finally {
        await image.close();
      }
      assert.deepEqual((await check(path)).findings, []);
      await convert(path, `${path}.raw`, { outputFormat: 'raw' });
      assert.ok(readFileSync(`${path}.raw`).equals(expected(snapshot)));
      if (!needTools(t, 'qemu-img')) return;
      run('qemu-img', ['convert', '-f', 'vmdk', '-O', 'raw', path, `${path}.qemu.raw`]);
      assert.ok(readFileSync(`${path}.qemu.raw`).equals(expected(snapshot)), 'qemu-img reads the built extent as the test expects');
    });
  }

  it('is read-only: opening it to write is refused', async () => {
    const err = await rejectsWithCode(openImage(disk(false), { writable: true }), 'UNSUPPORTED');
    assert.match(err.message, /SESPARSE.*read-only/);
  });

  it('an extent opened alone is refused, naming what to open', async () => {
    const path = join(dir, 'alone-sesparse.vmdk');
    writeFileSync(path, buildSeSparse(SECTORS, new Map()));
    const err = await rejectsWithCode(openImage(path), 'UNSUPPORTED');
    assert.match(err.message, /seSparse.*descriptor/);
  });

  const u64 = (b: Buffer, at: number, v: bigint): void => {
    b.writeBigUInt64LE(v, at);
  };
  const gdAt = 2 * 512;
  const table = (b: Buffer, g: number): number => (Number(b.readBigUInt64LE(144)) + Number(b.readBigUInt64LE(gdAt + g * 8) & 0xffffffffn) * 64) * 512;
  for (const [name, damage, code, why] of [
    ['version 3', (b: Buffer) => u64(b, 8, 0x200000003n), 'UNSUPPORTED', /version 0x200000003/],
    ['flags set', (b: Buffer) => u64(b, 40, 1n), 'UNSUPPORTED', /flags 0x1/],
    ['a journal to replay', (b: Buffer) => u64(b, 512 + 24, 1n), 'UNSUPPORTED', /journal to replay/],
    ['a volatile header past the end', (b: Buffer) => u64(b, 80, 1n << 40n), 'CORRUPT', /volatile header/],
    ['a grain directory too small', (b: Buffer) => u64(b, 136, 0n), 'CORRUPT', /too few/],
    ['a grain directory entry of type 2', (b: Buffer) => u64(b, gdAt, 0x2000000000000000n), 'CORRUPT', /not an allocated table entry/],
    ['a grain table past the end', (b: Buffer) => u64(b, gdAt, 0x1000000001000000n), 'CORRUPT', /outside the file/],
    ['a grain entry of type 5', (b: Buffer) => u64(b, table(b, 0), 0x5000000000000000n), 'CORRUPT', /type 5/],
    ['an unallocated grain entry with bits set', (b: Buffer) => u64(b, table(b, 0) + 8 * 7, 0x12345n), 'CORRUPT', /type 0/],
    ['a grain past the end', (b: Buffer) => u64(b, table(b, 0), 0x3000000000100000n), 'CORRUPT', /past the end/],
  ] as const) {
    it(`refuses ${name}`, async () => {
      const err = await openOrReadFails(disk(false, damage), code as ErrorCode);
      assert.match(err.message, why);
    });
  }

  it('check reports a damaged table and goes on to the next', async () => {
    const path = disk(false, (b) => u64(b, table(b, 0) + 8 * 7, 0x7000000000000000n));
    const findings = (await check(path)).findings;
    assert.deepEqual(findings.map((f) => f.code), ['SESPARSE_ENTRY']);
    assert.match(findings[0]!.message, /type 7/);
  });
});
