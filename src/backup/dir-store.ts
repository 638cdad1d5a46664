import { randomBytes } from 'node:crypto';
import { link, mkdir, open, readdir, stat, unlink } from 'node:fs/promises';
import type { Dirent } from 'node:fs';
import { dirname, join } from 'node:path';
import { DiskImageError, ioError } from '../errors.js';
import type { ObjectStore, StoredObject } from './object-store.js';

/** Prefix of the temporary file a create writes before linking it to its name. */
const TEMP_PREFIX = '.tmp-';

/** Fsyncs a directory so that a name created in it survives a crash. */
async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** True for a Node error of code `code`. */
function isErrno(err: unknown, code: string): boolean {
  return (err as NodeJS.ErrnoException)?.code === code;
}

/**
 * An ObjectStore in a local directory: object `a/b/c` is the file `DIR/a/b/c`.
 * A create writes a temporary file beside the final name (a dot name, which
 * list never shows), fsyncs it, links it to the final name (link fails when
 * the name exists, which makes the create conditional and atomic), removes
 * the temporary name and fsyncs the directory. Directories made on the way
 * are fsynced in their parent.
 */
export class DirStore implements ObjectStore {
  constructor(readonly location: string) {}

  async create(name: string, data: Uint8Array): Promise<boolean> {
    const path = this.pathOf(name);
    const dir = dirname(path);
    await this.makeDirs(dir);
    const temp = join(dir, `${TEMP_PREFIX}${process.pid}-${randomBytes(6).toString('hex')}`);
    try {
      const handle = await open(temp, 'wx');
      try {
        await handle.writeFile(data);
        await handle.sync();
      } finally {
        await handle.close();
      }
      try {
        await link(temp, path);
      } catch (err) {
        if (isErrno(err, 'EEXIST')) return false;
        throw err;
      }
      await syncDir(dir);
      return true;
    } catch (err) {
      throw ioError(err, path, 'write');
    } finally {
      await unlink(temp).catch(() => undefined);
    }
  }

  async get(name: string, maxBytes: number): Promise<Uint8Array | undefined> {
    const path = this.pathOf(name);
    try {
      const handle = await open(path, 'r');
      try {
        const { size } = await handle.stat();
        if (size > maxBytes) throw new DiskImageError('CORRUPT', `${path} is ${size} bytes, more than the ${maxBytes} such an object can hold`, { path });
        const buf = new Uint8Array(size);
        const { bytesRead } = await handle.read(buf, 0, size, 0);
        return buf.subarray(0, bytesRead);
      } finally {
        await handle.close();
      }
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return undefined;
      throw ioError(err, path, 'read');
    }
  }

  async exists(name: string): Promise<boolean> {
    try {
      await stat(this.pathOf(name));
      return true;
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return false;
      throw ioError(err, this.pathOf(name), 'look up');
    }
  }

  async list(prefix: string): Promise<string[]> {
    const dir = this.pathOf(prefix);
    try {
      const entries = await readdir(dir, { withFileTypes: true });
      return entries.filter((e) => e.isFile() && !e.name.startsWith('.')).map((e) => prefix + e.name).sort();
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return [];
      throw ioError(err, dir, 'list');
    }
  }

  async *listTree(prefix: string): AsyncIterable<StoredObject> {
    for await (const { path, name } of this.walk(this.pathOf(prefix), prefix, false)) {
      const s = await stat(path).catch((err: unknown) => {
        if (isErrno(err, 'ENOENT')) return undefined;
        throw ioError(err, path, 'look up');
      });
      if (s) yield { name, size: s.size, modifiedMs: s.mtimeMs };
    }
  }

  async delete(name: string): Promise<void> {
    const path = this.pathOf(name);
    try {
      await unlink(path);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return;
      throw ioError(err, path, 'remove');
    }
    await syncDir(dirname(path)).catch((err: unknown) => {
      throw ioError(err, dirname(path), 'sync');
    });
  }

  async sweepTemporaries(olderThanMs: number): Promise<number> {
    let removed = 0;
    for await (const { path } of this.walk(this.location, '', true)) {
      const s = await stat(path).catch(() => undefined);
      if (!s || s.mtimeMs >= olderThanMs) continue;
      await unlink(path).catch((err: unknown) => {
        if (!isErrno(err, 'ENOENT')) throw ioError(err, path, 'remove');
      });
      removed++;
    }
    return removed;
  }

  /** The files under directory `dir` (object prefix `prefix`), depth first: objects, or with `temporaries` only the temporary files. */
  private async *walk(dir: string, prefix: string, temporaries: boolean): AsyncIterable<{ path: string; name: string }> {
    let entries: Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return;
      throw ioError(err, dir, 'list');
    }
    for (const e of entries) {
      const path = join(dir, e.name);
      if (e.isDirectory() && !e.name.startsWith('.')) yield* this.walk(path, `${prefix}${e.name}/`, temporaries);
      else if (e.isFile() && (temporaries ? e.name.startsWith(TEMP_PREFIX) : !e.name.startsWith('.'))) yield { path, name: prefix + e.name };
    }
  }

  /** The file of object `name`; names are made by the repository, never taken from input unchecked. */
  private pathOf(name: string): string {
    return join(this.location, ...name.split('/'));
  }

  /** Makes `dir` and its missing parents up to the store's root, fsyncing each new one in its parent. */
  private async makeDirs(dir: string): Promise<void> {
    const first = await mkdir(dir, { recursive: true }).catch((err: unknown) => {
      throw ioError(err, dir, 'create');
    });
    if (first === undefined) return;
    for (let d = dir; d.length >= first.length; d = dirname(d)) await syncDir(dirname(d));
  }
}
