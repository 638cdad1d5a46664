/**
 * `check --repair` of a monolithic sparse VMDK: leaked bytes at the end cut
 * off, grains no table points to between others reported but left, a
 * damaged primary grain directory rebuilt from the redundant one, both
 * damaged refused.
 */
import assert from 'node:assert/strict';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createImage } from '../../../src/formats/registry.js';
import { check } from '../../../src/ops/check.js';
import { guestSha256OfFile } from '../../helpers/images.js';
import { tempDir } from '../../helpers/tmp.js';
import { FIELD, buildSparseVmdk, grainOf } from '../../helpers/vmdk.js';

const MiB = 1024 * 1024;
const dir = tempDir('vdisk-vmdk-repair-');
let n = 0;

/** A 40 MiB monolithic sparse VMDK with grains in two grain tables; returns its path and guest sha256. */
async function sample(): Promise<{ path: string; sha: string }> {
  const path = join(dir, `r${n++}.vmdk`);
  const image = await createImage(path, 'vmdk', { virtualSize: 40 * MiB, options: {} });
  await image.writeAt(grainOf(200 * 1024, 3), 5000 * 512);
  await image.writeAt(grainOf(4096, 4), 36 * MiB);
  await image.flush();
  await image.close();
  return { path, sha: await guestSha256OfFile(path) };
}

describe('check --repair of a VMDK', () => {
  it('reports bytes after the last structure as a leak and cuts them', async () => {
    const { path, sha } = await sample();
    const size = readFileSync(path).length;
    appendFileSync(path, Buffer.alloc(70000, 0xaa));
    const before = await check(path);
    assert.deepEqual(before.findings.map((f) => f.code), ['LEAKED_SPACE']);
    assert.equal(before.result, 'leaks');
    const after = await check(path, { repair: true });
    assert.deepEqual(after.repaired, [`cut 70000 unreferenced bytes after byte ${size}`]);
    assert.deepEqual(after.findings, []);
    assert.equal(readFileSync(path).length, size);
    assert.equal(await guestSha256OfFile(path), sha);
  });

  it('reports grains no table points to between other grains (LEAKED_GRAINS, with their bytes) and leaves them; cuts only the end', async () => {
    const KiB = 1024;
    const grains = new Map([0, 1, 2, 3, 4, 600].map((g) => [g, grainOf(64 * KiB, g + 1)]));
    const l = buildSparseVmdk({ capacity: 2048 * 128, grainSize: 128, grains });
    // Grains 1 and 2 (side by side) and 4 lose their table entries; grain 600, the last one, keeps its own.
    for (const g of [1, 2, 4]) l.bytes.writeUInt32LE(0, l.gtSectors[0]! * 512 + g * 4);
    const path = join(dir, 'middle.vmdk');
    writeFileSync(path, Buffer.concat([l.bytes, Buffer.alloc(4096, 0xaa)]));
    const at = (g: number) => l.grainSectors.get(g)! * 512;
    const before = await check(path);
    assert.deepEqual(before.findings.map((f) => f.code), ['LEAKED_GRAINS', 'LEAKED_SPACE']);
    assert.match(before.findings[0]!.message, new RegExp(`: 196608 bytes in 2 ranges between structures belong to nothing, no grain table points there \\(131072 at byte ${at(1)}, 65536 at byte ${at(4)}\\)`));
    assert.equal(before.result, 'leaks');
    const sha = await guestSha256OfFile(path);
    const after = await check(path, { repair: true });
    assert.deepEqual(after.repaired, [`cut 4096 unreferenced bytes after byte ${at(600) + 64 * KiB}`]);
    assert.deepEqual(after.findings.map((f) => f.code), ['LEAKED_GRAINS'], 'the space between grains stays');
    assert.equal(await guestSha256OfFile(path), sha);
  });

  it('rebuilds a damaged primary grain directory from the redundant one', async () => {
    const { path, sha } = await sample();
    const bytes = readFileSync(path);
    const gd = Number(bytes.readBigUInt64LE(FIELD.gdOffset));
    bytes.writeUInt32LE(0x7fffffff, gd * 512 + 4);
    writeFileSync(path, bytes);
    assert.equal((await check(path)).result, 'corruption');
    const after = await check(path, { repair: true });
    assert.match(after.repaired[0]!, /^rebuilt the grain directory from the redundant one at byte \d+$/);
    assert.deepEqual(after.findings, []);
    assert.equal(await guestSha256OfFile(path), sha);
  });

  it('copies redundant grain tables over primary ones that differ (a crash between the two table writes of a flush)', async () => {
    const { path, sha } = await sample();
    const bytes = readFileSync(path);
    const gd = Number(bytes.readBigUInt64LE(FIELD.gdOffset));
    const table = bytes.readUInt32LE(gd * 512);
    const first = table * 512 + Math.floor(5000 / 128) * 4;
    assert.notEqual(bytes.readUInt32LE(first), 0, 'the sample has a grain there');
    bytes.writeUInt32LE(0, first);
    writeFileSync(path, bytes);
    assert.deepEqual((await check(path)).findings.map((f) => f.code), ['RGD_DIFFERS']);
    const after = await check(path, { repair: true });
    assert.deepEqual(after.repaired, ["copied 1 grain table(s) from the redundant directory over the primary's (table 0)"]);
    assert.deepEqual(after.findings, []);
    assert.equal(await guestSha256OfFile(path), sha);
  });

  it('refuses when both directories are damaged (a CORRUPT finding), and leaves other VMDKs alone', async () => {
    const { path } = await sample();
    const bytes = readFileSync(path);
    for (const field of [FIELD.gdOffset, FIELD.rgdOffset]) bytes.writeUInt32LE(0x7fffffff, Number(bytes.readBigUInt64LE(field)) * 512 + 4);
    writeFileSync(path, bytes);
    const refused = await check(path, { repair: true });
    assert.equal(refused.result, 'corruption');
    assert.deepEqual(refused.repaired, []);
    assert.match(refused.findings[0]!.message, /both grain directories are damaged; rebuilding one would be a guess/);
    const flat = join(dir, 'd.vmdk');
    writeFileSync(join(dir, 'd-flat.vmdk'), Buffer.alloc(MiB));
    writeFileSync(flat, '# Disk DescriptorFile\nversion=1\nCID=1\nparentCID=ffffffff\ncreateType="monolithicFlat"\nRW 2048 FLAT "d-flat.vmdk" 0\n');
    assert.deepEqual((await check(flat, { repair: true })).repaired, []);
  });
});
