/**
 * Images read over HTTP: a real node:http server on 127.0.0.1 (test/helpers/
 * http-server.ts) serves a dynamic VHD chain and a dynamic VHDX of 256 MiB
 * holding a few MiB, and the CLI reads them by URL. Each command may fetch
 * at most 1.2 times the files' bytes (their allocated data and metadata),
 * far below the virtual size, so only allocated ranges are read. A server
 * without Range support is UNSUPPORTED; a dropped connection is IO and
 * leaves no output behind.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createImage, openImage } from '../../src/formats/registry.js';
import type { Extent, WritableDiskImage } from '../../src/formats/types.js';
import { vdiskAsync } from '../helpers/cli.js';
import { startHttpServer, type TestHttpServer } from '../helpers/http-server.js';
import { fillPattern } from '../helpers/pattern-disk.js';
import { tempDir } from '../helpers/tmp.js';

const MiB = 1024 * 1024;
const SIZE = 256 * MiB;

/** Writes a few scattered runs (partial blocks, both ends of the disk) into an image. */
async function scatter(image: WritableDiskImage, seed: number): Promise<void> {
  const runs: [number, number][] = [[0, 3 * MiB + 512], [40 * MiB + 4096, 70000], [100 * MiB, 2 * MiB], [SIZE - MiB - 8 * 8192, MiB]];
  for (const [i, [offset, length]] of runs.entries()) {
    const data = new Uint8Array(length);
    fillPattern(data, offset, seed * 10 + i);
    await image.writeAt(data, offset + seed * 8192);
  }
  await image.flush();
  await image.close();
}

/** Extents with data and zero merged into `stored` (what a source without a hole map reports). */
function stored(extents: Extent[]): Extent[] {
  const out: Extent[] = [];
  for (const e of extents) {
    const kind = e.kind === 'unallocated' ? e.kind : 'data';
    const last = out[out.length - 1];
    if (last && last.kind === kind && last.depth === e.depth && last.offset + last.length === e.offset) last.length += e.length;
    else out.push({ ...e, kind });
  }
  return out;
}

/** Bytes of the files of a chain (what a reader of allocated ranges may fetch). */
const filesBytes = (dir: string, names: string[]) => names.reduce((n, f) => n + statSync(join(dir, f)).size, 0);

const dir = tempDir();
let server: TestHttpServer;

before(async () => {
  await scatter(await createImage(join(dir, 'base.vhd'), 'vhd', { virtualSize: SIZE, options: {} }), 1);
  const base = await openImage(join(dir, 'base.vhd'));
  await scatter(await createImage(join(dir, 'child.vhd'), 'vhd', { virtualSize: SIZE, options: {}, parent: base }), 2);
  await scatter(await createImage(join(dir, 'disk.vhdx'), 'vhdx', { virtualSize: SIZE, options: { block_size: '1M' } }), 3);
  server = await startHttpServer(dir);
});

after(async () => {
  await server.close();
});

for (const [name, chain] of [
  ['child.vhd', ['child.vhd', 'base.vhd']],
  ['disk.vhdx', ['disk.vhdx']],
] as const) {
  describe(`vdisk over HTTP: ${name}`, () => {
    /** Runs a command and returns it with the bytes the server sent for it. */
    const served = async (...args: string[]) => {
      const before = server.bytesServed();
      const r = await vdiskAsync(...args);
      assert.equal(r.status, 0, r.stderr);
      return { ...r, bytes: server.bytesServed() - before };
    };
    const budget = () => 1.2 * filesBytes(dir, [...chain]);

    it('info names the URL and the parent found beside it', async () => {
      const r = await served('info', '--json', '--chain', server.url + name);
      const layers = JSON.parse(r.stdout) as { filename: string; backingFile?: string }[];
      assert.deepEqual(
        layers.map((l) => l.filename),
        chain.map((c) => server.url + c),
      );
      assert.ok(r.bytes <= budget(), `${r.bytes} bytes served`);
    });

    it('map gives the extents of the local file (over HTTP, holes inside stored blocks cannot be told from data)', async () => {
      const r = await served('map', '--json', server.url + name);
      const local = await vdiskAsync('map', '--json', join(dir, name));
      assert.deepEqual(stored(JSON.parse(r.stdout) as Extent[]), stored(JSON.parse(local.stdout) as Extent[]));
      assert.ok(r.bytes <= budget(), `${r.bytes} bytes served`);
    });

    it('compare against the local file: identical, reading only allocated ranges', async () => {
      const r = await served('compare', server.url + name, join(dir, name));
      assert.ok(r.bytes <= budget() && r.bytes < SIZE / 10, `${r.bytes} bytes served, budget ${budget()}`);
    });

    it('convert to raw gives the same disk as from the local file', async () => {
      const out = join(tempDir(), 'out.raw');
      const r = await served('convert', '-O', 'raw', server.url + name, out);
      const local = join(tempDir(), 'local.raw');
      await served('convert', '-O', 'raw', join(dir, name), local);
      assert.ok(readFileSync(out).equals(readFileSync(local)));
      assert.ok(r.bytes <= budget(), `${r.bytes} bytes served, budget ${budget()}`);
    });
  });
}

describe('vdisk over HTTP: servers that cannot serve an image', () => {
  it('a server without Range support: UNSUPPORTED, without downloading the image', async () => {
    // The body waits 5 s, so only a client that reads the whole-file reply gets any of it.
    const plain = await startHttpServer(dir, { ranges: false, bodyDelayMs: 5000 });
    try {
      const r = await vdiskAsync('info', plain.url + 'disk.vhdx');
      assert.equal(r.status, 1);
      assert.match(r.stderr, /Range.*\(UNSUPPORTED\)/);
      assert.ok(plain.bytesServed() < MiB, `${plain.bytesServed()} bytes served`);
    } finally {
      await plain.close();
    }
  });

  it('a missing image: IO naming the URL and 404', async () => {
    const r = await vdiskAsync('info', server.url + 'nothing.vhd');
    assert.equal(r.status, 1);
    assert.match(r.stderr, /nothing\.vhd.*404.*\(IO\)/);
  });

  it('a connection dropped mid-read: IO, and no partial output is left', async () => {
    const dropping = await startHttpServer(dir, { dropAfter: 2 * MiB });
    const outDir = tempDir();
    try {
      const r = await vdiskAsync('convert', '-O', 'vhdx', dropping.url + 'child.vhd', join(outDir, 'out.vhdx'));
      assert.equal(r.status, 1);
      assert.match(r.stderr, /\(IO\)/);
      assert.equal(existsSync(join(outDir, 'out.vhdx')), false);
      assert.deepEqual(readdirSync(outDir), []);
    } finally {
      await dropping.close();
    }
  });

  it('commands that change an image, or make a child of one, refuse a URL with USAGE', async () => {
    const out = join(tempDir(), 'x.vhd');
    for (const args of [
      ['resize', server.url + 'disk.vhdx', '512M'],
      ['compact', server.url + 'disk.vhdx'],
      ['commit', server.url + 'child.vhd'],
      ['rebase', '-u', '-b', server.url + 'base.vhd', server.url + 'child.vhd'],
      ['snapshot', server.url + 'base.vhd', out],
      ['check', '--repair', server.url + 'base.vhd'],
    ]) {
      const r = await vdiskAsync(...args);
      assert.notEqual(r.status, 0, args.join(' '));
      assert.match(r.stderr + r.stdout, /URL can only be read/, args.join(' '));
    }
    assert.equal(existsSync(out), false);
  });
});
