/**
 * The conversion matrix (issue 16): one generated disk, written into every
 * format vdisk creates, converted into every subformat of every format
 * vdisk writes; and a differencing chain of every format with chains,
 * converted into one flat image of every format. Every result must read as
 * the disk it came from (vdisk), `qemu-img compare` must agree where qemu
 * reads the format, and the libyal tool of the format must open it. The
 * formats come from the registry, so a format gains its rows by gaining a
 * writer. The pairs that held are printed as a table at the end.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test, type TestContext } from 'node:test';
import { createImage, formats, openImage } from '../../src/formats/registry.js';
import type { FormatDescriptor, WritableDiskImage } from '../../src/formats/types.js';
import { convert } from '../../src/ops/convert.js';
import { fillPattern } from '../helpers/pattern-disk.js';
import { guestSha256OfFile } from '../helpers/images.js';
import { needTools, run } from '../helpers/oracles.js';
import { tempDir } from '../helpers/tmp.js';
import { createHash } from 'node:crypto';

const MiB = 1024 * 1024;
/** Not a multiple of any block or grain size (only of the 512-byte sector). */
const SIZE = 9 * MiB + 3 * 512;

/** qemu's name of each format whose images qemu-img compare reads. */
const QEMU_NAME: Record<string, string> = { raw: 'raw', vhd: 'vpc', vhdx: 'vhdx', vmdk: 'vmdk', qcow2: 'qcow2', vdi: 'vdi' };

/** The libyal tool that opens each format. */
const LIBYAL: Record<string, string> = { vhd: 'vhdiinfo', vhdx: 'vhdiinfo', vmdk: 'vmdkinfo', qcow2: 'qcowinfo' };

/** The -o options of each subformat vdisk writes, by format (one default entry for a format not listed). */
const SUBFORMATS: Record<string, Record<string, string>[]> = {
  vhd: [{ subformat: 'dynamic' }, { subformat: 'fixed' }],
  vhdx: [{ subformat: 'dynamic' }, { subformat: 'fixed' }],
  vmdk: [{}, { subformat: 'monolithicFlat' }, { subformat: 'twoGbMaxExtentSparse' }, { subformat: 'streamOptimized' }],
  vdi: [{ subformat: 'dynamic' }, { subformat: 'fixed' }],
};

/** [offset, bytes]: the first sector, partial blocks across 1 and 2 MiB boundaries, a lone sector, the disk's last bytes; a zero block comes separately. */
const WRITES: [number, number][] = [
  [0, 512],
  [MiB - 4096, 8192 + 512],
  [3 * MiB + 100 * 1024, 300 * 1024],
  [6 * MiB, 2 * MiB],
  [SIZE - 1536, 1536],
];

/** A block written with zeros (allocated in the source, all zero in the guest). */
const ZERO_BLOCK: [number, number] = [4 * MiB, MiB];

const writers = formats().filter((f) => f.create);
const subformats = (f: FormatDescriptor) => SUBFORMATS[f.name] ?? [{}];
const label = (f: FormatDescriptor, o: Record<string, string>) => (o.subformat ? `${f.name} ${o.subformat}` : f.name);

function payload(offset: number, length: number, seed: number): Uint8Array {
  const data = new Uint8Array((length + 3) & ~3);
  fillPattern(data, offset, seed);
  return data.subarray(0, length);
}

/** Writes WRITES (seeded by `seed`) and the zero block into `image`, into `model` too, and flushes. */
async function writeDisk(image: WritableDiskImage, model: Uint8Array, seed: number, writes = WRITES): Promise<void> {
  for (const [i, [offset, length]] of writes.entries()) {
    const data = payload(offset, length, seed + i);
    await image.writeAt(data, offset);
    model.set(data, offset);
  }
  await image.writeAt(new Uint8Array(ZERO_BLOCK[1]), ZERO_BLOCK[0]);
  model.fill(0, ZERO_BLOCK[0], ZERO_BLOCK[0] + ZERO_BLOCK[1]);
  await image.flush();
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** Checks `out` (format `f`) against the guest view `model` (kept as raw at `raw`): vdisk, qemu-img compare, the libyal tool. */
async function confirm(t: TestContext, row: string, f: FormatDescriptor, out: string, raw: string, model: Uint8Array): Promise<void> {
  assert.equal(await guestSha256OfFile(out), sha(model));
  const by = ['vdisk'];
  const qemu = QEMU_NAME[f.name];
  if (qemu && needTools(t, 'qemu-img')) {
    run('qemu-img', ['compare', '-f', 'raw', '-F', qemu, raw, out]);
    by.push('qemu');
  }
  const tool = LIBYAL[f.name];
  if (tool && needTools(t, tool)) {
    run(tool, [out]);
    by.push(tool);
  }
  table.push(`${row.padEnd(40)} ${by.join(', ')}`);
}

/** Rows of the table the matrix prints: source, output, what confirmed it. */
const table: string[] = [];

/** Prints the pairs that held, one line each, once every test has run. */
after(() => {
  console.log(['conversion matrix (vdisk = guest view equal; qemu = qemu-img compare; libyal = its tool opened it):', ...table].join('\n  '));
});

describe('every format into every subformat', () => {
  for (const src of writers.filter((f) => !f.frontToBackOnly?.({}))) {
    test(`from ${src.name}`, async (t) => {
      const dir = tempDir();
      const model = new Uint8Array(SIZE);
      const source = join(dir, `src.${src.extension}`);
      const image = await createImage(source, src.name, { virtualSize: SIZE, options: {} });
      await writeDisk(image, model, 0x100);
      await image.close();
      const raw = join(dir, 'expected.raw');
      writeFileSync(raw, model);
      for (const dst of writers) {
        for (const [k, options] of subformats(dst).entries()) {
          await t.test(`${src.name} → ${label(dst, options)}`, async (t2) => {
            const out = join(dir, `out-${dst.name}-${k}.${dst.extension}`);
            await convert(source, out, { outputFormat: dst.name, options });
            await confirm(t2, `${src.name} → ${label(dst, options)}`, dst, out, raw, model);
          });
        }
      }
    });
  }
});

describe('every chain into one flat image of every format', () => {
  for (const src of writers.filter((f) => f.differencing)) {
    test(`a ${src.name} chain`, async (t) => {
      const dir = tempDir();
      const model = new Uint8Array(SIZE);
      const basePath = join(dir, `base.${src.extension}`);
      const base = await createImage(basePath, src.name, { virtualSize: SIZE, options: {} });
      await writeDisk(base, model, 0x200);
      await base.close();
      const parent = await openImage(basePath);
      const childPath = join(dir, `child.${src.extension}`);
      const child = await createImage(childPath, src.name, { virtualSize: SIZE, options: {}, parent });
      await writeDisk(child, model, 0x300, [[2 * MiB - 512, 1024], [6 * MiB + 4096, 4096]]);
      await child.writeZeroes(0, MiB);
      model.fill(0, 0, MiB);
      await child.flush();
      await child.close();
      const raw = join(dir, 'expected.raw');
      writeFileSync(raw, model);
      for (const dst of writers) {
        await t.test(`${src.name} chain → ${dst.name}`, async (t2) => {
          const out = join(dir, `flat-${dst.name}.${dst.extension}`);
          await convert(childPath, out, { outputFormat: dst.name, options: {} });
          await confirm(t2, `${src.name} chain → ${dst.name}`, dst, out, raw, model);
        });
      }
    });
  }
});
