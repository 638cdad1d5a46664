/**
 * Hostile parent and extent names (issue 20): a name an image records for
 * its parent, an extent or an external data file must not lead vdisk out of
 * the allowed directories (the child's own, and each --parent-dir; for an
 * extent or data file, the descriptor's own). Each case puts a real target
 * outside the allowed directory, so that a name resolved there would open;
 * opens through a spy opener and requires a coded error and no file opened
 * outside. A control opens the same image once the target is allowed.
 */
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readFileSync, realpathSync, renameSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join, resolve, sep } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { resolveParent } from '../../src/chain/resolve.js';
import { DiskImageError, type ErrorCode } from '../../src/errors.js';
import { createImage, openImage } from '../../src/formats/registry.js';
import { encodeParentName } from '../../src/formats/vhd/dynamic-header.js';
import type { OpenOptions } from '../../src/formats/types.js';
import type { FileOpener } from '../../src/io/image-file.js';
import { openSource } from '../../src/io/open-source.js';
import { throwsWithCode } from '../helpers/assert-error.js';
import { addLayer, type ChainFormat } from '../helpers/chain.js';
import { withClosing } from '../helpers/closing.js';
import { startHttpServer, type TestHttpServer } from '../helpers/http-server.js';
import { needTools, run } from '../helpers/oracles.js';
import { tempDir } from '../helpers/tmp.js';
import { VHD, fixChecksums, patchBytes, patchU32, readBytes } from '../helpers/vhd.js';

const SIZE = 4 * 1024 * 1024;

/** An allowed directory and a directory beside it holding the real targets. */
interface Sandbox {
  allowed: string;
  outside: string;
}

function sandbox(): Sandbox {
  const root = realpathSync(tempDir());
  const s = { allowed: join(root, 'allowed'), outside: join(root, 'outside') };
  mkdirSync(s.allowed);
  mkdirSync(s.outside);
  return s;
}

/** Whether `p` (after symlinks, when it exists) lies inside `dir`. */
function inside(p: string, dir: string): boolean {
  const real = existsSync(p) ? realpathSync(p) : resolve(p);
  return real.startsWith(dir + sep);
}

/** Opens `path` through a spy opener: the error (or undefined when it opened) and every path handed to the opener. */
async function openSpied(path: string, options: OpenOptions = {}): Promise<{ error: unknown; opened: string[] }> {
  const opened: string[] = [];
  const openFile: FileOpener = (p, mode) => {
    opened.push(p);
    return openSource(p, mode);
  };
  try {
    const image = await openImage(path, { ...options, openFile });
    await image.close();
    return { error: undefined, opened };
  } catch (error) {
    return { error, opened };
  }
}

/** Requires opening `path` to fail with `code`, opening nothing outside `allowed`; returns the error. */
async function refused(path: string, allowed: string, code: ErrorCode): Promise<DiskImageError> {
  const { error, opened } = await openSpied(path);
  assert.ok(error instanceof DiskImageError, `expected ${code}, got ${String(error)}`);
  assert.equal(error.code, code, error.message);
  for (const p of opened) assert.ok(inside(p, allowed), `${p} was opened, outside ${allowed}`);
  return error;
}

/** Requires `path` to open (the control: the target is reachable once allowed). */
async function opens(path: string, options: OpenOptions = {}): Promise<void> {
  const { error } = await openSpied(path, options);
  assert.equal(error, undefined, `${path} did not open: ${String(error)}`);
}

/** Hostile spellings of a file `name` whose real copy lies in `outside`, for a child in `allowed`. */
function hostileNames(s: Sandbox, name: string, server: TestHttpServer): string[] {
  return [join(s.outside, name), `../outside/${name}`, `C:\\outside\\${name}`, `\\\\server\\share\\${name}`, `file://${join(s.outside, name)}`, `${server.url}${name}`];
}

/** Replaces the first match of `pattern` in the (possibly embedded) VMDK descriptor of `path` by `to`, keeping an embedded descriptor's NUL padding. */
function editDescriptor(path: string, pattern: RegExp, to: string): void {
  const buf = readFileSync(path);
  const start = buf.indexOf('# Disk DescriptorFile');
  const nul = buf.indexOf(0, start);
  const end = nul < 0 ? buf.length : nul;
  const text = buf.toString('utf8', start, end);
  assert.match(text, pattern);
  const next = Buffer.from(text.replace(pattern, to), 'utf8');
  if (nul < 0) return writeFileSync(path, next);
  Buffer.concat([next, Buffer.alloc(Math.max(0, end - start - next.length))]).copy(buf, start);
  writeFileSync(path, buf);
}

/** Creates `child` of `fmt` over `base` (wherever it lies: the writer records its names, relative and absolute). */
async function makeChild(base: string, child: string, fmt: ChainFormat): Promise<void> {
  const parent = await openImage(base);
  try {
    await (await createImage(child, fmt, { virtualSize: SIZE, options: {}, parent })).close();
  } finally {
    await parent.close();
  }
}

/** base.FMT outside the sandbox and child.FMT over it inside. */
async function acrossSandbox(s: Sandbox, fmt: ChainFormat): Promise<{ base: string; child: string }> {
  const base = join(s.outside, `base.${fmt}`);
  const child = join(s.allowed, `child.${fmt}`);
  await addLayer(base, undefined, SIZE, [], fmt);
  await makeChild(base, child, fmt);
  return { base, child };
}

const FORMATS: ChainFormat[] = ['vhd', 'vhdx', 'vmdk', 'qcow2'];

describe('parent names the writers record (all name carriers of the format at once)', () => {
  for (const fmt of FORMATS) {
    it(`${fmt}: a parent outside the child's directory (absolute and ../ names) is refused until --parent-dir allows it`, async () => {
      const s = sandbox();
      const { child } = await acrossSandbox(s, fmt);
      const err = await refused(child, s.allowed, 'PARENT');
      assert.match(err.message, /outside the allowed directories/);
      await opens(child, { parentDirs: [s.outside] });
    });

    it(`${fmt}: a symlink in the child's directory to a parent outside it is refused`, async () => {
      const s = sandbox();
      const base = join(s.allowed, `base.${fmt}`);
      const child = join(s.allowed, `child.${fmt}`);
      await addLayer(base, undefined, SIZE, [], fmt);
      await makeChild(base, child, fmt);
      const target = join(s.outside, `base.${fmt}`);
      renameSync(base, target);
      symlinkSync(target, base);
      const err = await refused(child, s.allowed, 'PARENT');
      assert.match(err.message, /outside the allowed directories/);
      await opens(child, { parentDirs: [s.outside] });
    });
  }
});

/** Sets every parent locator payload (W2ku, W2ru: UTF-16LE; MacX: UTF-8) and the header parent name of VHD `path` to `name`, checksums fixed. */
function setVhdParentNames(path: string, name: string): void {
  for (let i = 0; i < 8; i++) {
    const at = VHD.headerOffset + VHD.headerLocators + 24 * i;
    const e = Buffer.from(readBytes(path, at, 24));
    const code = e.toString('latin1', 0, 4);
    if (code !== 'W2ku' && code !== 'W2ru' && code !== 'MacX') continue;
    const data = Buffer.from(name, code === 'MacX' ? 'utf8' : 'utf16le');
    assert.ok(data.length <= e.readUInt32BE(4), `${name} does not fit the ${code} locator`);
    patchBytes(path, Number(e.readBigUInt64BE(16)), data);
    patchU32(path, at + 8, data.length);
  }
  patchBytes(path, VHD.headerOffset + VHD.headerParentName, encodeParentName(name));
  fixChecksums(path);
}

describe('VHD names in the file (every locator and the header parent name at once)', () => {
  it('refuses every hostile name; nothing outside is opened or fetched', async () => {
    const s = sandbox();
    await withClosing(startHttpServer(s.outside), async (server) => {
      const { base, child } = await acrossSandbox(s, 'vhd');
      for (const name of hostileNames(s, 'base.vhd', server)) {
        setVhdParentNames(child, name);
        await refused(child, s.allowed, 'PARENT');
      }
      assert.equal(server.requests(), 0);
      setVhdParentNames(child, base);
      await opens(child, { parentDirs: [s.outside] });
    });
  });
});

describe('VHD and VHDX names (locators, parent name, parent_linkage paths) through the resolver', () => {
  it('refuses drive letters, UNC paths and URLs whose file lies outside; a drive letter or UNC path is looked for by its file name only', async () => {
    const s = sandbox();
    await withClosing(startHttpServer(s.outside), async (server) => {
      for (const ext of ['vhd', 'vhdx']) {
        writeFileSync(join(s.outside, `base.${ext}`), new Uint8Array(512));
        const ctx = { childPath: join(s.allowed, `child.${ext}`), parentDirs: [], visited: new Set<string>(), depth: 1, expected: 'UUID x' };
        for (const path of hostileNames(s, `base.${ext}`, server)) {
          throwsWithCode(() => resolveParent([{ source: ext === 'vhd' ? 'W2ku locator' : 'absolute_win32_path', path }], ctx), 'PARENT');
        }
        writeFileSync(join(s.allowed, `base.${ext}`), new Uint8Array(512));
        assert.deepEqual(resolveParent([{ source: 'W2ku locator', path: `C:\\outside\\base.${ext}` }], ctx), [join(s.allowed, `base.${ext}`)]);
        assert.deepEqual(resolveParent([{ source: 'W2ku locator', path: `\\\\server\\share\\base.${ext}` }], ctx), [join(s.allowed, `base.${ext}`)]);
      }
      assert.equal(server.requests(), 0);
    });
  });
});

describe('qcow2 names (qemu-img)', () => {
  it('refuses every hostile backing file name; nothing outside is opened or fetched', async (t: TestContext) => {
    if (!needTools(t, 'qemu-img')) return;
    const s = sandbox();
    await withClosing(startHttpServer(s.outside), async (server) => {
      const { base, child } = await acrossSandbox(s, 'qcow2');
      for (const name of hostileNames(s, 'base.qcow2', server)) {
        run('qemu-img', ['rebase', '-u', '-f', 'qcow2', '-F', 'qcow2', '-b', name, child]);
        await refused(child, s.allowed, 'PARENT');
      }
      assert.equal(server.requests(), 0);
      run('qemu-img', ['rebase', '-u', '-f', 'qcow2', '-F', 'qcow2', '-b', base, child]);
      await opens(child, { parentDirs: [s.outside] });
    });
  });

  it('refuses an external data file named outside the image directory, or a symlink there; an absolute name is read by its file name beside the image', async (t: TestContext) => {
    if (!needTools(t, 'qemu-img')) return;
    const s = sandbox();
    await withClosing(startHttpServer(s.outside), async (server) => {
      const image = join(s.allowed, 'd.qcow2');
      const data = join(s.allowed, 'data.raw');
      const make = (name: string): void => {
        run('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', `data_file=${data}`, image, String(SIZE)]);
        run('qemu-img', ['amend', '-f', 'qcow2', '-o', `data_file=${name}`, image]);
      };
      make('data.raw');
      await opens(image);
      copyFileSync(data, join(s.outside, 'data.raw'));
      for (const name of hostileNames(s, 'data.raw', server).slice(1)) {
        make(name);
        const err = await refused(image, s.allowed, 'CORRUPT');
        assert.match(err.message, /external data file/);
      }
      make(join(s.outside, 'data.raw'));
      unlinkSync(data);
      await refused(image, s.allowed, 'IO');
      make('data.raw');
      unlinkSync(data);
      symlinkSync(join(s.outside, 'data.raw'), data);
      assert.match((await refused(image, s.allowed, 'CORRUPT')).message, /outside the descriptor's directory/);
      assert.equal(server.requests(), 0);
    });
  });
});

describe('VMDK names (descriptor text)', () => {
  it('refuses every hostile extent file name, and an extent that is a symlink out', async () => {
    const s = sandbox();
    await withClosing(startHttpServer(s.outside), async (server) => {
      const desc = join(s.allowed, 'split.vmdk');
      const image = await createImage(desc, 'vmdk', { virtualSize: SIZE, options: { subformat: 'twoGbMaxExtentSparse' } });
      await image.close();
      const extent = /RW (\d+) SPARSE "([^"]+)"/.exec(readFileSync(desc, 'utf8'))!;
      const extentName = extent[2]!;
      copyFileSync(join(s.allowed, extentName), join(s.outside, extentName));
      const original = readFileSync(desc);
      for (const name of hostileNames(s, extentName, server)) {
        writeFileSync(desc, original);
        editDescriptor(desc, /SPARSE "[^"]+"/, `SPARSE "${name}"`);
        const err = await refused(desc, s.allowed, 'CORRUPT');
        assert.match(err.message, /extent file/);
      }
      writeFileSync(desc, original);
      await opens(desc);
      unlinkSync(join(s.allowed, extentName));
      symlinkSync(join(s.outside, extentName), join(s.allowed, extentName));
      assert.match((await refused(desc, s.allowed, 'CORRUPT')).message, /outside the descriptor's directory/);
      assert.equal(server.requests(), 0);
    });
  });

  it('refuses every hostile parentFileNameHint', async () => {
    const s = sandbox();
    await withClosing(startHttpServer(s.outside), async (server) => {
      const { base, child } = await acrossSandbox(s, 'vmdk');
      for (const name of hostileNames(s, 'base.vmdk', server)) {
        editDescriptor(child, /parentFileNameHint="[^"]*"/, `parentFileNameHint="${name}"`);
        await refused(child, s.allowed, 'PARENT');
      }
      assert.equal(server.requests(), 0);
      editDescriptor(child, /parentFileNameHint="[^"]*"/, `parentFileNameHint="${base}"`);
      await opens(child, { parentDirs: [s.outside] });
    });
  });
});
