/**
 * Hostile input, part 2: differencing VHDs whose parent locators, parent
 * name or parent are wrong. Every case must end in a PARENT error naming
 * what was tried, or open with a warning when the user allows it.
 */
import assert from 'node:assert/strict';
import { mkdirSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DiskImageError } from '../../../src/errors.js';
import { DiskFile } from '../../../src/io/file.js';
import { createImage, openImage } from '../../../src/formats/registry.js';
import { encodeParentName } from '../../../src/formats/vhd/dynamic-header.js';
import { readVhdLayout } from '../../../src/formats/vhd/layout.js';
import { formatUuid } from '../../../src/util/uuid.js';
import type { DiskImage } from '../../../src/formats/types.js';

/** True for an opened image (not an error). */
function isDiskImage(x: unknown): x is DiskImage {
  return typeof x === 'object' && x !== null && 'readAt' in x;
}
import { rejectsWithCode } from '../../helpers/assert-error.js';
import { readAll } from '../../helpers/images.js';
import { tempDir } from '../../helpers/tmp.js';
import { VHD, createPatternVhd, fixChecksums, openWithWarnings, patchBothFooters, patchBytes, patchU32, patchU64, readBytes } from '../../helpers/vhd.js';

const BLOCK = 512 * 1024;
const SIZE = 8 * BLOCK;

interface Chain {
  dir: string;
  base: string;
  child: string;
  model: Uint8Array;
}

/** base.vhd (blocks 0 and 2) and child.vhd (its own first sector) in a fresh directory. */
async function makeChain(size = SIZE): Promise<Chain> {
  const dir = tempDir();
  const base = join(dir, 'base.vhd');
  const child = join(dir, 'child.vhd');
  const { model } = await createPatternVhd(base, { size, blockSize: BLOCK, blocks: [0, 2] });
  await makeChild(base, child);
  model.fill(0xc5, 0, 512);
  return { dir, base, child, model };
}

/** Creates `child` on `parent` with 0xc5 in its first sector. */
async function makeChild(parent: string, child: string): Promise<void> {
  const p = await openImage(parent);
  const image = await createImage(child, 'vhd', { virtualSize: p.virtualSize, options: { block_size: '512K' }, parent: p });
  await image.writeAt(new Uint8Array(512).fill(0xc5), 0);
  await image.flush();
  await image.close();
}

/** The parent locator entry `i` of a file's dynamic header: where its fields and payload are. */
function locator(path: string, i: number): { at: number; code: string; length: number; offset: number } {
  const at = VHD.headerOffset + VHD.headerLocators + 24 * i;
  const e = Buffer.from(readBytes(path, at, 24));
  return { at, code: e.toString('latin1', 0, 4), length: e.readUInt32BE(8), offset: Number(e.readBigUInt64BE(16)) };
}

function locatorByCode(path: string, code: string): { at: number; code: string; length: number; offset: number } {
  for (let i = 0; i < 8; i++) if (locator(path, i).code === code) return locator(path, i);
  return assert.fail(`no ${code} locator in ${path}`);
}

async function readsModel(path: string, model: Uint8Array, options = {}): Promise<string[]> {
  const { image, warnings } = await openWithWarnings(path, options);
  try {
    assert.ok(Buffer.from(await readAll(image)).equals(Buffer.from(model)), 'guest data differs from the model');
  } finally {
    await image.close();
  }
  return warnings;
}

describe('differencing VHD: locators', () => {
  it('the chain as made reads like the model, with W2ku, W2ru and MacX locators', async () => {
    const c = await makeChain();
    await readsModel(c.child, c.model);
    assert.deepEqual(['W2ku', 'W2ru', 'MacX'].map((code) => locatorByCode(c.child, code).code), ['W2ku', 'W2ru', 'MacX']);
  });

  it('a child whose locators point at itself: PARENT (loop)', async () => {
    const c = await makeChain();
    renameSync(c.child, c.base);
    const err = await rejectsWithCode(openImage(c.base), 'PARENT');
    assert.match(err.message, /loop/);
  });

  it('two children pointing at each other: PARENT (loop)', async () => {
    const c = await makeChain();
    const grandchild = join(c.dir, 'grandchild.vhd');
    await makeChild(c.child, grandchild);
    renameSync(grandchild, c.base);
    const err = await rejectsWithCode(openImage(c.child), 'PARENT');
    assert.match(err.message, /loop/);
  });

  it('undecodable locators and a wrong parent name: PARENT naming the path tried; each locator error recorded', async () => {
    const c = await makeChain();
    const w2ru = locatorByCode(c.child, 'W2ru');
    const lone = new Uint8Array(w2ru.length);
    lone.set([0x00, 0xd8, 0x41, 0x00]);
    patchBytes(c.child, w2ru.offset, lone);
    const w2ku = locatorByCode(c.child, 'W2ku');
    patchU32(c.child, w2ku.at + 8, w2ku.length - 1);
    const macx = locatorByCode(c.child, 'MacX');
    patchBytes(c.child, macx.offset, Buffer.from('http://x/base.vhd'.slice(0, macx.length)));
    patchBytes(c.child, VHD.headerOffset + VHD.headerParentName, encodeParentName('nothere.vhd'));
    fixChecksums(c.child);

    const err = await rejectsWithCode(openImage(c.child), 'PARENT');
    assert.deepEqual(err.details.tried, [`${join(c.dir, 'nothere.vhd')} (header parent name: not found)`]);
    assert.ok(err.message.includes(join(c.dir, 'nothere.vhd')), err.message);

    const file = await DiskFile.open(c.child);
    try {
      const errors = Object.fromEntries((await readVhdLayout(file)).locators.map((l) => [l.code, l.error]));
      assert.match(errors.W2ru!, /unpaired surrogates/);
      assert.match(errors.W2ku!, /odd byte length/);
      assert.match(errors.MacX!, /not a file:\/\/ URL/);
    } finally {
      await file.close();
    }
  });

  it('one broken locator (payload past the end) is recorded and the next one is used', async () => {
    const c = await makeChain();
    const w2ru = locatorByCode(c.child, 'W2ru');
    patchU64(c.child, w2ru.at + 16, 1n << 40n);
    fixChecksums(c.child);
    await readsModel(c.child, c.model);
    const image = await openImage(c.child);
    try {
      const locs = image.describe().formatSpecific!.parentLocators as { platform: string; error?: string; path?: string }[];
      assert.match(locs.find((l) => l.platform === 'W2ru')!.error!, /past the end of the file/);
      assert.equal(locs.find((l) => l.platform === 'MacX')!.path, './base.vhd');
    } finally {
      await image.close();
    }
  });

  it('a locator with an absurd length is recorded, not read', async () => {
    const c = await makeChain();
    patchU32(c.child, locatorByCode(c.child, 'W2ku').at + 8, 0xfffffff0);
    fixChecksums(c.child);
    await readsModel(c.child, c.model);
  });

  it('a locator offset past 2^53: OUT_OF_RANGE, or recorded on that locator while the others find the parent', async () => {
    const c = await makeChain();
    patchU64(c.child, locatorByCode(c.child, 'MacX').at + 16, 1n << 60n);
    fixChecksums(c.child);
    const result: DiskImage | unknown = await openImage(c.child).catch((err: unknown) => err);
    if (!isDiskImage(result)) {
      assert.ok(result instanceof DiskImageError, String(result));
      assert.equal(result.code, 'OUT_OF_RANGE');
      return;
    }
    const locs = result.describe().formatSpecific!.parentLocators as { platform: string; error?: string }[];
    await result.close();
    assert.ok(locs.find((l) => l.platform === 'MacX')!.error);
    await readsModel(c.child, c.model);
  });
});

describe('differencing VHD: finding and checking the parent', () => {
  it('parent missing: PARENT listing the paths tried', async () => {
    const c = await makeChain();
    renameSync(c.base, join(c.dir, 'moved.vhd'));
    const err = await rejectsWithCode(openImage(c.child), 'PARENT');
    assert.ok((err.details.tried as string[]).length >= 1);
    assert.ok(err.message.includes(c.base), err.message);
  });

  it('parent moved to another directory: PARENT, then found by name with parentDirs', async () => {
    const c = await makeChain();
    const other = join(c.dir, 'other');
    mkdirSync(other);
    renameSync(c.base, join(other, 'base.vhd'));
    await rejectsWithCode(openImage(c.child), 'PARENT');
    await readsModel(c.child, c.model, { parentDirs: [other] });
  });

  it('parent reached through a symlink leading outside the child\'s directory: PARENT unless allowed', async () => {
    const c = await makeChain();
    const other = join(c.dir, 'other');
    mkdirSync(other);
    const vms = join(c.dir, 'vms');
    mkdirSync(vms);
    renameSync(c.base, join(other, 'base.vhd'));
    renameSync(c.child, join(vms, 'child.vhd'));
    symlinkSync(join(other, 'base.vhd'), join(vms, 'base.vhd'));
    const err = await rejectsWithCode(openImage(join(vms, 'child.vhd')), 'PARENT');
    assert.match(err.message, /outside the allowed directories/);
    await readsModel(join(vms, 'child.vhd'), c.model, { parentDirs: [other] });
  });

  it('parent with a different UUID: PARENT; with ignoreParentUuid it opens with a warning', async () => {
    const c = await makeChain();
    const uuid = new Uint8Array(16).fill(0x42);
    patchBothFooters(c.base, (at) => patchBytes(c.base, at + VHD.footerUuid, uuid));
    const err = await rejectsWithCode(openImage(c.child), 'PARENT');
    assert.match(err.message, new RegExp(formatUuid(uuid)));
    assert.match(err.message, /--ignore-parent-uuid/);
    const warnings = await readsModel(c.child, c.model, { ignoreParentUuid: true });
    assert.ok(warnings.some((w) => w.includes(formatUuid(uuid)) && /child expects/.test(w)), warnings.join('\n'));
  });

  it('parent of a different size with the right UUID: PARENT, even with ignoreParentUuid', async () => {
    const c = await makeChain();
    const big = join(c.dir, 'big.vhd');
    await createPatternVhd(big, { size: 2 * SIZE, blockSize: BLOCK, blocks: [1] });
    const uuid = readBytes(c.base, VHD.footerUuid, 16);
    patchBothFooters(big, (at) => patchBytes(big, at + VHD.footerUuid, uuid));
    renameSync(big, c.base);
    const err = await rejectsWithCode(openImage(c.child), 'PARENT');
    assert.match(err.message, new RegExp(`${2 * SIZE} bytes, the child ${SIZE}`));
    await rejectsWithCode(openImage(c.child, { ignoreParentUuid: true }), 'PARENT');
  });

  it('a raw file where the parent should be: PARENT (it has no UUID)', async () => {
    const c = await makeChain();
    writeFileSync(c.base, new Uint8Array(SIZE).fill(1));
    const err = await rejectsWithCode(openImage(c.child), 'PARENT');
    assert.match(err.message, /found only \S+ \(none \(raw\)\)/);
  });
});
