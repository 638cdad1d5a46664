/**
 * Hostile input, part 2: differencing VHDXs whose parent locator or parent is
 * wrong. A locator that cannot be decoded is CORRUPT (or UNSUPPORTED for
 * another locator type); a parent that cannot be found or does not match is a
 * PARENT error naming every path tried and the linkage GUID wanted; with
 * ignoreParentUuid a mismatched parent opens with a warning.
 */
import assert from 'node:assert/strict';
import { mkdirSync, renameSync, truncateSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { ErrorCode } from '../../../src/errors.js';
import { createImage, openImage } from '../../../src/formats/registry.js';
import type { WritableDiskImage } from '../../../src/formats/types.js';
import { encodeParentLocator } from '../../../src/formats/vhdx/parent-locator.js';
import { snapshot } from '../../../src/ops/snapshot.js';
import { readAll, same } from '../../helpers/images.js';
import { rejectsWithCode } from '../../helpers/assert-error.js';
import { tempDir } from '../../helpers/tmp.js';
import { openWithWarnings } from '../../helpers/vhd.js';
import { MiB, createPatternVhdx, replaceLocator } from '../../helpers/vhdx.js';

const SIZE = 4 * MiB;

interface Chain {
  dir: string;
  base: string;
  child: string;
  model: Uint8Array;
  /** The base's DataWriteGuid as the child records it: "{...}". */
  linkage: string;
}

/** base.vhdx (blocks 0 and 2) and child.vhdx (0xc5 in its first sector) in `dir` (default: a fresh one). */
async function makeChain(dir = tempDir(), baseName = 'base.vhdx'): Promise<Chain> {
  const base = join(dir, baseName);
  const child = join(dir, 'child.vhdx');
  const { model } = await createPatternVhdx(base, { size: SIZE, blockSize: MiB, blocks: [0, 2] });
  await snapshot(base, child);
  const w = (await openImage(child, { writable: true })) as WritableDiskImage;
  await w.writeAt(new Uint8Array(512).fill(0xc5), 0);
  await w.flush();
  await w.close();
  model.fill(0xc5, 0, 512);
  const probe = await openImage(child);
  const linkage = (probe.describe().formatSpecific!.parentLocator as Record<string, string>).parent_linkage!;
  await probe.close();
  return { dir, base, child, model, linkage };
}

async function readsModel(path: string, model: Uint8Array, options = {}): Promise<string[]> {
  const { image, warnings } = await openWithWarnings(path, options);
  try {
    assert.ok(same(await readAll(image), model), 'guest data differs from the model');
  } finally {
    await image.close();
  }
  return warnings;
}

describe('differencing VHDX: garbage parent locators', () => {
  /** The locator vdisk wrote, as raw bytes changed by `patch`. */
  const raw = (c: Chain, patch: (b: Buffer) => void): Buffer => {
    const b = Buffer.from(encodeParentLocator([['parent_linkage', c.linkage], ['relative_path', '.\\base.vhdx']]));
    patch(b);
    return b;
  };
  const cases: [string, (c: Chain) => Uint8Array | [string, string][], ErrorCode][] = [
    ['another locator type', (c) => raw(c, (b) => (b[3]! ^= 0xff)), 'UNSUPPORTED'],
    ['a key/value count of 65535', (c) => raw(c, (b) => b.writeUInt16LE(0xffff, 18)), 'CORRUPT'],
    ['a value offset past the item', (c) => raw(c, (b) => b.writeUInt32LE(0x7fffffff, 24)), 'CORRUPT'],
    ['an odd key length', (c) => raw(c, (b) => b.writeUInt16LE(27, 28)), 'CORRUPT'],
    ['an unpaired surrogate in the path', (c) => raw(c, (b) => b.writeUInt16LE(0xdbff, b.readUInt32LE(36) + 2)), 'CORRUPT'],
    ['10 bytes', () => new Uint8Array(10), 'CORRUPT'],
    ['all zeros', () => new Uint8Array(4096), 'UNSUPPORTED'],
    ['no parent_linkage', () => [['relative_path', '.\\base.vhdx']], 'CORRUPT'],
    ['a parent_linkage that is not a GUID', () => [['parent_linkage', '{not-a-guid}'], ['relative_path', '.\\base.vhdx']], 'CORRUPT'],
  ];
  for (const [name, locator, code] of cases) {
    it(`${name}: ${code}`, async () => {
      const c = await makeChain();
      replaceLocator(c.child, locator(c));
      await rejectsWithCode(openImage(c.child), code);
    });
  }

  it('a locator item longer than 64 KiB: CORRUPT', async () => {
    const c = await makeChain();
    replaceLocator(c.child, [['parent_linkage', c.linkage], ['relative_path', `.\\${'x'.repeat(40000)}\\..\\base.vhdx`]]);
    await rejectsWithCode(openImage(c.child), 'CORRUPT');
  });

  it('parent_linkage2 alone matching the parent is enough; keys in any order and case of GUID', async () => {
    const c = await makeChain();
    replaceLocator(c.child, [['relative_path', '.\\base.vhdx'], ['parent_linkage', '{00000000-0000-0000-0000-000000000001}'], ['parent_linkage2', c.linkage.toUpperCase()]]);
    assert.deepEqual(await readsModel(c.child, c.model), []);
  });
});

describe('differencing VHDX: finding the parent', () => {
  it('a missing parent: PARENT naming every path tried (relative and absolute) and the linkage GUID', async () => {
    const root = tempDir();
    const first = join(root, 'first');
    const second = join(root, 'second');
    mkdirSync(first);
    mkdirSync(second);
    const c = await makeChain(first);
    renameSync(c.child, join(second, 'child.vhdx'));
    unlinkSync(c.base);
    const err = await rejectsWithCode(openImage(join(second, 'child.vhdx')), 'PARENT');
    assert.ok(err.message.includes(c.linkage), `the linkage GUID: ${err.message}`);
    assert.ok(err.message.includes(join(second, 'base.vhdx')), `the relative_path candidate: ${err.message}`);
    assert.ok(err.message.includes(c.base), `the absolute_win32_path candidate: ${err.message}`);
    assert.deepEqual(err.details.tried, [`${join(second, 'base.vhdx')} (relative_path: not found)`, `${c.base} (absolute_win32_path: not found)`]);
  });

  it('the parent moved along with the child: found by its relative path', async () => {
    const root = tempDir();
    mkdirSync(join(root, 'a'));
    const c = await makeChain(join(root, 'a'));
    renameSync(join(root, 'a'), join(root, 'b'));
    assert.deepEqual(await readsModel(join(root, 'b', 'child.vhdx'), c.model), []);
  });

  it('only a Windows absolute path: found by file name in the allowed directories', async () => {
    const c = await makeChain();
    replaceLocator(c.child, [['parent_linkage', c.linkage], ['absolute_win32_path', 'C:\\Hyper-V\\Disks\\base.vhdx']]);
    assert.deepEqual(await readsModel(c.child, c.model), []);
  });

  it('a parent outside the allowed directories: PARENT until --parent-dir allows it', async () => {
    const root = tempDir();
    const inner = join(root, 'inner');
    mkdirSync(inner);
    const c = await makeChain(root);
    renameSync(c.child, join(inner, 'child.vhdx'));
    const child = join(inner, 'child.vhdx');
    replaceLocator(child, [['parent_linkage', c.linkage], ['relative_path', '.\\..\\base.vhdx']]);
    const err = await rejectsWithCode(openImage(child), 'PARENT');
    assert.match(err.message, /outside the allowed directories/);
    await readsModel(child, c.model, { parentDirs: [root] });
  });

  it('a child whose locator names itself: PARENT (loop)', async () => {
    const c = await makeChain();
    replaceLocator(c.child, [['parent_linkage', c.linkage], ['relative_path', '.\\child.vhdx']]);
    const err = await rejectsWithCode(openImage(c.child), 'PARENT');
    assert.match(err.message, /loop/);
  });

  it('a parent with another DataWriteGuid (written since): PARENT naming both; opens with a warning under ignoreParentUuid', async () => {
    const c = await makeChain();
    const w = (await openImage(c.base, { writable: true })) as WritableDiskImage;
    await w.writeAt(new Uint8Array(512).fill(7), 3 * MiB);
    await w.flush();
    const now = w.describe().formatSpecific!.dataWriteGuid as string;
    await w.close();
    const err = await rejectsWithCode(openImage(c.child), 'PARENT');
    assert.ok(err.message.includes(c.linkage), err.message);
    assert.ok(err.message.includes(now), `names the DataWriteGuid found: ${err.message}`);
    c.model.fill(7, 3 * MiB, 3 * MiB + 512);
    const warnings = await readsModel(c.child, c.model, { ignoreParentUuid: true });
    assert.equal(warnings.length, 1);
    assert.ok(warnings[0]!.includes(now));
  });

  it('a parent of another size: PARENT even with ignoreParentUuid', async () => {
    const c = await makeChain();
    unlinkSync(c.base);
    const other = await createImage(c.base, 'vhdx', { virtualSize: 2 * SIZE, options: { block_size: '1M' } });
    await other.close();
    await rejectsWithCode(openImage(c.child), 'PARENT');
    const err = await rejectsWithCode(openImage(c.child, { ignoreParentUuid: true }), 'PARENT');
    assert.match(err.message, /bytes/);
  });

  it('a VHD where the parent should be: PARENT (it has no DataWriteGuid)', async () => {
    const c = await makeChain();
    unlinkSync(c.base);
    const vhd = await createImage(c.base, 'vhd', { virtualSize: SIZE, options: {} });
    await vhd.close();
    const err = await rejectsWithCode(openImage(c.child), 'PARENT');
    assert.match(err.message, /vhd/);
  });

  it('a parent that is not an image at all (a broken VHDX): PARENT with the reason', async () => {
    const c = await makeChain();
    truncateSync(c.base, MiB);
    const err = await rejectsWithCode(openImage(c.child), 'PARENT');
    assert.match(err.message, /too small/);
  });

  it('the candidate holds both: an absolute path to a stale copy and the right parent by its relative path', async () => {
    const c = await makeChain();
    const stale = join(c.dir, 'stale.vhdx');
    await createPatternVhdx(stale, { size: SIZE, blockSize: MiB, blocks: [1] });
    replaceLocator(c.child, [['parent_linkage', c.linkage], ['relative_path', '.\\stale.vhdx'], ['absolute_win32_path', c.base]]);
    assert.deepEqual(await readsModel(c.child, c.model), [], 'the stale candidate is passed over for the one whose DataWriteGuid matches');
  });
});
