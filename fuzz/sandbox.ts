import { mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DiskImageError } from '../src/errors.js';
import type { FileOpener } from '../src/io/image-file.js';
import { readOnlyFile } from '../src/io/read-only-file.js';

/**
 * A bounded in-memory file set for one mutant: the bytes live in memory and
 * the opener serves only them (read-only). The parent and extent resolvers
 * look at the file system (stat, realpath) before they open, so each name
 * also exists as an empty stub in a private directory; a name outside the
 * set, or a write, is a DiskImageError, so a mutant can reach no other file.
 */
export class MemorySandbox {
  /** The real path of the stub directory. */
  readonly dir: string;
  private files = new Map<string, Uint8Array>();
  /** Names of the stubs in `dir` (kept here: listing the directory for every mutant cost more than the rest of loading it). */
  private readonly stubs = new Set<string>();

  /** Uses `dir` (an empty directory the caller removes) for the stubs, or a new temporary one that dispose() removes. */
  constructor(dir = mkdtempSync(join(tmpdir(), 'vdisk-fuzz-'))) {
    this.dir = realpathSync(dir);
  }

  /** Makes the set `files` (name to bytes) the only one the opener serves; returns the path of `top`. */
  load(files: Map<string, Uint8Array>, top: string): string {
    for (const name of this.stubs) {
      if (files.has(name)) continue;
      rmSync(join(this.dir, name));
      this.stubs.delete(name);
    }
    this.files = new Map();
    for (const [name, bytes] of files) {
      if (!this.stubs.has(name)) writeFileSync(join(this.dir, name), '');
      this.stubs.add(name);
      this.files.set(join(this.dir, name), bytes);
    }
    return join(this.dir, top);
  }

  /** The opener to pass as OpenOptions.openFile. */
  readonly opener: FileOpener = async (path, mode) => {
    const bytes = this.files.get(resolve(path));
    if (!bytes) throw new DiskImageError('IO', `cannot open ${path}: not in the fuzz sandbox`, { path });
    if (mode !== 'read') throw new DiskImageError('USAGE', `${path}: the fuzz sandbox is read-only`, { path });
    return readOnlyFile({
      path,
      size: bytes.length,
      read: async (buf, offset) => {
        if (!Number.isSafeInteger(offset) || offset < 0 || offset + buf.length > bytes.length) {
          throw new DiskImageError('CORRUPT', `${path}: read of ${buf.length} bytes at ${offset} ran past the end (${bytes.length} bytes)`, { path, offset });
        }
        buf.set(bytes.subarray(offset, offset + buf.length));
      },
      close: async () => undefined,
    });
  };

  /** Removes the stub directory. */
  dispose(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
