// Oracle: VMDKs qemu-img 7.2 writes (every subformat it creates, and delta
// chains written with qemu-io) read by vdisk byte for byte as qemu-img reads
// them; vmdkinfo (libvmdk) agrees on size and content IDs.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { openImage } from '../../../src/formats/registry.js';
import { check } from '../../../src/ops/check.js';
import { convert } from '../../../src/ops/convert.js';
import { rejectsWithCode } from '../../helpers/assert-error.js';
import { vdisk } from '../../helpers/cli.js';
import { startHttpServer } from '../../helpers/http-server.js';
import { guestSha256 } from '../../helpers/images.js';
import { needTools, run, sha256OfFile, vmdkinfo } from '../../helpers/oracles.js';
import { writePatternDisk } from '../../helpers/pattern-disk.js';
import { tempDir } from '../../helpers/tmp.js';
import { FIELD, buildSparseVmdk, grainOf } from '../../helpers/vmdk.js';

const MiB = 1024 * 1024;
const SUBFORMATS = ['monolithicSparse', 'monolithicFlat', 'twoGbMaxExtentSparse', 'twoGbMaxExtentFlat', 'streamOptimized'];

/** qemu-img's guest view of `path` as a sha256 (through a raw copy). */
function qemuSha(path: string, dir: string, name: string): Promise<string> {
  const raw = join(dir, `${name}.qemu.raw`);
  run('qemu-img', ['convert', '-f', 'vmdk', '-O', 'raw', path, raw]);
  return sha256OfFile(raw);
}

async function vdiskSha(path: string): Promise<{ sha: string; size: number }> {
  const image = await openImage(path);
  try {
    return { sha: await guestSha256(image), size: image.virtualSize };
  } finally {
    await image.close();
  }
}

describe('vdisk reads what qemu-img convert -O vmdk writes', () => {
  const dir = tempDir('vdisk-qemu-vmdk-');
  const small = join(dir, 'small.raw');
  const large = join(dir, 'large.raw');

  before(async () => {
    await writePatternDisk(small, { size: 40 * MiB + 64 * 1024, blockSize: 64 * 1024, fraction: 0.3, seed: 0x71 });
    await writePatternDisk(large, { size: 2048 * MiB + 6 * MiB, blockSize: 64 * 1024, fraction: 0.002, seed: 0x72 });
  });

  for (const subformat of SUBFORMATS) {
    test(`${subformat}, 40 MiB + 64 KiB`, async (t) => {
      if (!needTools(t, 'qemu-img', 'vmdkinfo')) return;
      const vmdk = join(dir, `${subformat}.vmdk`);
      run('qemu-img', ['convert', '-f', 'raw', '-O', 'vmdk', '-o', `subformat=${subformat}`, small, vmdk]);
      const ours = await vdiskSha(vmdk);
      assert.equal(ours.sha, await qemuSha(vmdk, dir, subformat));
      assert.equal(ours.sha, await sha256OfFile(small), 'and it is the source disk');
      const image = await openImage(vmdk);
      try {
        const d = image.describe();
        assert.equal(d.subformat, subformat);
        const info = vmdkinfo(vmdk);
        assert.equal(info.size, image.virtualSize);
        assert.equal(d.formatSpecific?.cid, info.cid);
      } finally {
        await image.close();
      }
      assert.deepEqual((await check(vmdk)).findings, []);
    });
  }

  for (const subformat of ['twoGbMaxExtentSparse', 'twoGbMaxExtentFlat']) {
    test(`${subformat} over two extents, 2 GiB + 6 MiB`, async (t) => {
      if (!needTools(t, 'qemu-img')) return;
      const vmdk = join(dir, `large-${subformat}.vmdk`);
      run('qemu-img', ['convert', '-f', 'raw', '-O', 'vmdk', '-o', `subformat=${subformat}`, large, vmdk]);
      const image = await openImage(vmdk);
      try {
        assert.equal(image.layer.files().length, 3, 'the descriptor and two extents');
      } finally {
        await image.close();
      }
      assert.equal((await vdiskSha(vmdk)).sha, await sha256OfFile(large));
    });
  }
});

test('GTE 1 without the zeroed-grain flag: vdisk reads zeros, qemu-img 7.2 reads sector 1 (the descriptor), check says so', async (t) => {
  if (!needTools(t, 'qemu-img')) return;
  const dir = tempDir('vdisk-qemu-vmdk-gte1-');
  const l = buildSparseVmdk({ capacity: 64, grains: new Map<number, Uint8Array | 'zero'>([[0, grainOf(4096, 1)], [1, 'zero']]) });
  l.bytes.writeUInt32LE(1, FIELD.flags);
  const path = join(dir, 'gte1.vmdk');
  writeFileSync(path, l.bytes);
  const raw = join(dir, 'gte1.raw');
  run('qemu-img', ['convert', '-f', 'vmdk', '-O', 'raw', path, raw]);
  const qemu = readFileSync(raw).subarray(4096, 8192);
  assert.equal(qemu.subarray(0, 21).toString('latin1'), '# Disk DescriptorFile', 'qemu-img reads sector 1 as grain 1');
  const image = await openImage(path);
  try {
    const ours = new Uint8Array(4096);
    await image.readAt(ours, 4096);
    assert.ok(ours.every((b) => b === 0));
  } finally {
    await image.close();
  }
  const report = await check(path);
  assert.deepEqual(report.findings.map((f) => f.code), ['ZEROED_GTE_WITHOUT_FLAG']);
  assert.equal(report.result, 'clean', 'a warning: the data is what the spec says');
  assert.match(vdisk('check', path).stdout, /warning: .*GTE 1 .*\[ZEROED_GTE_WITHOUT_FLAG\]/);
});

describe('qemu-made VMDK delta chains', () => {
  const dir = tempDir('vdisk-qemu-vmdk-chain-');
  const src = join(dir, 'src.raw');
  const base = join(dir, 'base.vmdk');
  const mid = join(dir, 'mid.vmdk');
  const top = join(dir, 'top.vmdk');

  before(async () => {
    await writePatternDisk(src, { size: 16 * MiB, blockSize: 64 * 1024, fraction: 0.5, seed: 0x73 });
  });

  test('base, a delta and a zeroed-grain delta over it, written with qemu-io', async (t) => {
    if (!needTools(t, 'qemu-img', 'qemu-io', 'vmdkinfo')) return;
    run('qemu-img', ['convert', '-f', 'raw', '-O', 'vmdk', src, base]);
    run('qemu-img', ['create', '-f', 'vmdk', '-b', 'base.vmdk', '-F', 'vmdk', mid]);
    run('qemu-io', ['-f', 'vmdk', '-c', 'write -P 0xab 100k 300k', '-c', 'write -P 0xcd 8M 64k', mid]);
    run('qemu-img', ['create', '-f', 'vmdk', '-o', 'zeroed_grain=on', '-b', 'mid.vmdk', '-F', 'vmdk', top]);
    run('qemu-io', ['-f', 'vmdk', '-c', 'write -z 0 128k', '-c', 'write -P 0xef 9M 4k', top]);
    for (const path of [mid, top]) {
      const ours = await vdiskSha(path);
      assert.equal(ours.sha, await qemuSha(path, dir, path.endsWith('top.vmdk') ? 'top' : 'mid'));
    }
    const image = await openImage(top);
    try {
      assert.equal(image.parent?.parent?.path, base, 'three layers');
      const own = [];
      for await (const e of image.extents(undefined, true)) own.push(e);
      assert.deepEqual(own[0], { offset: 0, length: 128 * 1024, kind: 'zero', depth: 0 }, 'write -z in a zeroed_grain delta is GTE 1');
      const info = vmdkinfo(top);
      assert.equal(info.parentCid, image.parent!.describe().formatSpecific?.cid);
    } finally {
      await image.close();
    }
  });

  test('a parent whose CID is not the child\'s parentCID is refused unless told to ignore it', async (t) => {
    if (!needTools(t, 'qemu-img')) return;
    const odd = join(dir, 'odd.vmdk');
    run('qemu-img', ['create', '-f', 'vmdk', '-b', 'base.vmdk', '-F', 'vmdk', odd]);
    // qemu writes CIDs with %x: 7 digits or fewer when they start with 0, so the whole text is rewritten in its NUL-padded area.
    const bytes = readFileSync(odd);
    const start = bytes.indexOf('# Disk DescriptorFile');
    const end = bytes.indexOf(0, start);
    const text = bytes.subarray(start, end).toString('latin1').replace(/parentCID=[0-9a-f]+/, 'parentCID=0badcafe');
    bytes.fill(0, start, end);
    bytes.write(text, start, 'latin1');
    writeFileSync(odd, bytes);
    const err = await rejectsWithCode(openImage(odd), 'PARENT');
    assert.match(err.message, /CID 0badcafe/);
    const warnings: string[] = [];
    const image = await openImage(odd, { ignoreParentUuid: true, onWarning: (w) => warnings.push(w) });
    await image.close();
    assert.ok(warnings.some((w) => /opening anyway/.test(w)), warnings.join('|'));
  });

  test('a split delta over a split base, read over HTTP: descriptor, extents and parent all come from the server', async (t) => {
    if (!needTools(t, 'qemu-img', 'qemu-io')) return;
    const web = join(dir, 'web');
    mkdirSync(web);
    run('qemu-img', ['convert', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=twoGbMaxExtentSparse', src, join(web, 'split.vmdk')]);
    run('qemu-img', ['create', '-f', 'vmdk', '-o', 'subformat=twoGbMaxExtentSparse', '-b', 'split.vmdk', '-F', 'vmdk', join(web, 'delta.vmdk')]);
    run('qemu-io', ['-f', 'vmdk', '-c', 'write -P 0x5a 1M 192k', join(web, 'delta.vmdk')]);
    const server = await startHttpServer(web);
    try {
      const image = await openImage(`${server.url}delta.vmdk`);
      try {
        assert.equal(image.parent?.path, `${server.url}split.vmdk`);
        assert.ok(image.layer.files().includes(`${server.url}delta-s001.vmdk`), image.layer.files().join());
        assert.equal(await guestSha256(image), await qemuSha(join(web, 'delta.vmdk'), dir, 'web-delta'));
      } finally {
        await image.close();
      }
    } finally {
      await server.close();
    }
  });

  test('the CLI: info, map, check, and convert to VHDX that qemu-img reads back', async (t) => {
    if (!needTools(t, 'qemu-img')) return;
    const info = vdisk('info', '--json', mid);
    assert.equal(info.status, 0, info.stderr);
    assert.equal(JSON.parse(info.stdout).subformat, 'monolithicSparse');
    const text = vdisk('info', mid);
    assert.match(text.stdout, /^content id: [0-9a-f]{8}; parent content id: [0-9a-f]{8} \(base\.vmdk\)$/m);
    assert.match(text.stdout, /^adapter: ide$/m);
    assert.match(text.stdout, /^geometry: \d+\/16\/63 \(cylinders\/heads\/sectors\)$/m);
    assert.match(text.stdout, /^extent: RW SPARSE 32768 sectors .*mid\.vmdk$/m);
    assert.equal(vdisk('map', mid).status, 0);
    assert.equal(vdisk('check', mid).status, 0);
    const vhdx = join(dir, 'mid.vhdx');
    await convert(mid, vhdx, { outputFormat: 'vhdx' });
    const raw = join(dir, 'mid.vhdx.raw');
    run('qemu-img', ['convert', '-f', 'vhdx', '-O', 'raw', vhdx, raw]);
    assert.equal(await sha256OfFile(raw), await qemuSha(mid, dir, 'mid2'));
    const refused = vdisk('convert', '-O', 'vmdk', '-o', 'adapter_type=scsi', src, join(dir, 'out.vmdk'));
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /adapter_type must be ide, buslogic, lsilogic, legacyESX, pvscsi, not 'scsi' \(USAGE\)/);
  });
});
