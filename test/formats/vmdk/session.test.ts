/**
 * uncleanShutdown and the CID across an open for writing, as VMware keeps
 * them ("Hosted Sparse Extent Header", "The Descriptor File"): the first
 * write of an open sets uncleanShutdown and writes a new CID, both fsynced
 * before any data; a clean close clears uncleanShutdown; an open without
 * writes and a disk just created change nothing. A server killed with
 * SIGKILL after a write and a flush leaves a file check reports as
 * UNCLEAN_SHUTDOWN, holding the write, that qemu-img still opens.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createImage, openImage } from '../../../src/formats/registry.js';
import type { WritableDiskImage } from '../../../src/formats/types.js';
import { NBD_CMD_FLUSH, NBD_CMD_WRITE } from '../../../src/nbd/constants.js';
import { check } from '../../../src/ops/check.js';
import { Recorder } from '../../helpers/fault-file.js';
import { RawNbdClient } from '../../helpers/nbd-client.js';
import { startServe } from '../../helpers/nbd-server.js';
import { needTools, run } from '../../helpers/oracles.js';
import { tempDir } from '../../helpers/tmp.js';
import { grainOf } from '../../helpers/vmdk.js';

const MiB = 1024 * 1024;
const dir = tempDir('vdisk-vmdk-session-');
/** Byte 72 of the hosted sparse header: uncleanShutdown. */
const UNCLEAN = 72;

/** The CID and ddb.longContentID the descriptor of `path` holds. */
async function contentIds(path: string): Promise<{ cid: string; long: string }> {
  const image = await openImage(path);
  try {
    const f = image.describe().formatSpecific as Record<string, string>;
    return { cid: f.cid!, long: f.longContentID! };
  } finally {
    await image.close();
  }
}

/** A new monolithicSparse VMDK of `size` bytes holding one grain, closed. */
async function newDisk(name: string, size = 4 * MiB, options: Record<string, string> = {}): Promise<string> {
  const path = join(dir, name);
  const image = await createImage(path, 'vmdk', { virtualSize: size, options });
  await image.writeAt(grainOf(64 * 1024, 1), 0);
  await image.flush();
  await image.close();
  return path;
}

describe('an existing sparse VMDK opened for writing', () => {
  it('sets uncleanShutdown and writes a new CID before its first data, and clears uncleanShutdown on a clean close', async () => {
    const path = await newDisk('marked.vmdk');
    const before = await contentIds(path);
    assert.equal(readFileSync(path)[UNCLEAN], 0);
    const rec = new Recorder();
    const image = (await openImage(path, { writable: true, openFile: rec.opener })) as WritableDiskImage;
    assert.equal(rec.events.length, 0, 'opening writes nothing');
    await image.writeAt(grainOf(4096, 2), 3 * MiB);
    assert.equal(readFileSync(path)[UNCLEAN], 1, 'set while open');
    const firstData = rec.events.findIndex((e) => e.kind === 'write' && e.offset >= 64 * 1024);
    const marks = rec.events.slice(0, firstData);
    assert.deepEqual(marks.filter((e) => e.kind === 'write').map((e) => e.offset), [UNCLEAN, 512], 'uncleanShutdown, then the embedded descriptor');
    assert.ok(marks.at(-1)?.kind === 'sync', 'fsynced before the data');
    await image.close();
    const last = rec.events.filter((e) => e.kind === 'write').at(-1)!;
    assert.deepEqual([last.offset, ...(last.kind === 'write' ? last.data : [])], [UNCLEAN, 0], 'the last write clears it');
    assert.equal(rec.events.at(-1)?.kind, 'sync');
    assert.equal(readFileSync(path)[UNCLEAN], 0);
    const after = await contentIds(path);
    assert.notEqual(after.cid, before.cid, 'a new CID');
    assert.ok(after.long.endsWith(after.cid) && after.long !== before.long, 'longContentID ends in the new CID');
    assert.equal((await check(path)).result, 'clean');
  });

  it('changes nothing when nothing is written, nor when the disk was just created', async () => {
    const path = await newDisk('untouched.vmdk');
    const bytes = readFileSync(path);
    const image = await openImage(path, { writable: true });
    await image.close();
    assert.ok(readFileSync(path).equals(bytes), 'opened and closed: the same bytes');
    const rec = new Recorder();
    const fresh = await createImage(join(dir, 'fresh.vmdk'), 'vmdk', { virtualSize: 4 * MiB, options: {}, openFile: rec.opener });
    const cid = (fresh.describe().formatSpecific as Record<string, string>).cid;
    await fresh.writeAt(grainOf(4096, 3), 0);
    await fresh.flush();
    await fresh.close();
    assert.ok(!rec.events.some((e) => e.kind === 'write' && e.offset === UNCLEAN), 'a new disk is not marked');
    assert.equal((await contentIds(join(dir, 'fresh.vmdk'))).cid, cid);
  });

  it('a split disk: every extent is marked, the CID changes in the descriptor file', async () => {
    const path = await newDisk('split.vmdk', 5000 * MiB, { subformat: 'twoGbMaxExtentSparse' });
    const extents = ['split-s001.vmdk', 'split-s002.vmdk', 'split-s003.vmdk'].map((f) => join(dir, f));
    const before = await contentIds(path);
    const length = readFileSync(path).length;
    const image = (await openImage(path, { writable: true })) as WritableDiskImage;
    await image.writeAt(grainOf(4096, 4), 4500 * MiB);
    assert.deepEqual(extents.map((e) => readFileSync(e)[UNCLEAN]), [1, 1, 1]);
    await image.close();
    assert.deepEqual(extents.map((e) => readFileSync(e)[UNCLEAN]), [0, 0, 0]);
    assert.notEqual((await contentIds(path)).cid, before.cid);
    assert.equal(readFileSync(path).length, length, 'the descriptor keeps its length');
  });
});

describe('vdisk serve --writable of a sparse VMDK', () => {
  let served = 0;

  /** Serves `path` writable, writes 4 KiB into a new grain through NBD and flushes, and returns the server once both are acknowledged. */
  async function serveAndWrite(path: string) {
    const socket = join(dir, `serve-${++served}.sock`);
    const serve = await startServe('--writable', '-s', socket, path);
    const c = await RawNbdClient.connect(socket);
    await c.go(serve.ready.exports[0]!.name);
    c.request(NBD_CMD_WRITE, MiB, 4096, { payload: grainOf(4096, 5) });
    assert.equal(await c.replyError(), 0);
    c.request(NBD_CMD_FLUSH, 0, 0, { cookie: 2n });
    assert.equal(await c.replyError(), 0);
    return serve;
  }

  it('killed with SIGKILL after a write: check reports UNCLEAN_SHUTDOWN, qemu-img still opens it', async (t) => {
    const path = await newDisk('killed.vmdk');
    const before = await contentIds(path);
    const serve = await serveAndWrite(path);
    serve.kill();
    await serve.exited;
    assert.equal(readFileSync(path)[UNCLEAN], 1);
    assert.notEqual((await contentIds(path)).cid, before.cid, 'the new CID was on disk before the data');
    const report = await check(path);
    assert.deepEqual(report.findings.map((f) => f.code), ['UNCLEAN_SHUTDOWN']);
    if (!needTools(t, 'qemu-img')) return;
    run('qemu-img', ['check', '-f', 'vmdk', path]);
    const image = await openImage(path);
    try {
      const data = new Uint8Array(4096);
      await image.readAt(data, MiB);
      assert.deepEqual(data, grainOf(4096, 5), 'the flushed write is there');
    } finally {
      await image.close();
    }
  });

  it('stopped cleanly: uncleanShutdown is clear and the CID is new', async () => {
    const path = await newDisk('stopped.vmdk');
    const before = await contentIds(path);
    const serve = await serveAndWrite(path);
    assert.equal((await serve.stop()).status, 0);
    assert.equal(readFileSync(path)[UNCLEAN], 0);
    assert.notEqual((await contentIds(path)).cid, before.cid);
    assert.equal((await check(path)).result, 'clean');
  });
});
