import { realpath, stat } from 'node:fs/promises';
import { DiskImageError } from '../errors.js';
import type { FileOpener } from '../io/image-file.js';
import { BACKUP_MAX_SOURCE_FILES } from '../limits.js';

/**
 * What a snapshot records of the files its guest view was read from
 * (docs/backup.md, "Incremental backups"): for each file every layer
 * opened, its identity and change stamps. A regular file whose device,
 * inode, size, modification and change times (to the nanosecond) are all
 * the same has not been written since: any write moves its change time,
 * which no user call can set back.
 */
export interface SourceFile {
  /** The real path (symbolic links resolved). */
  path: string;
  dev: string;
  ino: string;
  size: string;
  mtimeNs: string;
  ctimeNs: string;
}

/** The files a snapshot was read from, and which of them was the image named (the top of the chain). */
export interface SourceFiles {
  top: string;
  files: SourceFile[];
}


/** An opener that opens through `base` and adds each path it opened to `seen`. */
export function recordingOpener(base: FileOpener, seen: Set<string>): FileOpener {
  return async (path, mode) => {
    const file = await base(path, mode);
    seen.add(path);
    return file;
  };
}

/** The identity of the file at `path`, or undefined when it is not a local regular file (a URL, a block device: their writes leave no stamp). */
async function identify(path: string): Promise<SourceFile | undefined> {
  try {
    const real = await realpath(path);
    const s = await stat(real, { bigint: true });
    if (!s.isFile()) return undefined;
    return { path: real, dev: String(s.dev), ino: String(s.ino), size: String(s.size), mtimeNs: String(s.mtimeNs), ctimeNs: String(s.ctimeNs) };
  } catch {
    return undefined;
  }
}

/** The source files of an image whose top file is `top` and that opened `paths`; undefined when one of them has no identity. */
export async function sourceFiles(top: string, paths: Iterable<string>): Promise<SourceFiles | undefined> {
  const files: SourceFile[] = [];
  for (const p of new Set(paths)) {
    const f = await identify(p);
    if (!f) return undefined;
    files.push(f);
  }
  const topReal = await realpath(top).catch(() => undefined);
  if (!topReal || files.length > BACKUP_MAX_SOURCE_FILES) return undefined;
  return { top: topReal, files: files.sort((a, b) => a.path.localeCompare(b.path)) };
}

/** Checks a `source` value read from an index's metadata (named `what`); anything but a well-formed one is CORRUPT. */
export function parseSourceFiles(value: unknown, what: string): SourceFiles {
  const bad = () => new DiskImageError('CORRUPT', `${what}: source is not a list of source files`);
  if (typeof value !== 'object' || value === null) throw bad();
  const { top, files } = value as Record<string, unknown>;
  if (typeof top !== 'string' || !Array.isArray(files) || files.length > BACKUP_MAX_SOURCE_FILES) throw bad();
  const fields = ['path', 'dev', 'ino', 'size', 'mtimeNs', 'ctimeNs'] as const;
  const parsed = files.map((f: unknown): SourceFile => {
    if (typeof f !== 'object' || f === null) throw bad();
    const r = f as Record<string, unknown>;
    if (!fields.every((k) => typeof r[k] === 'string' && (r[k] as string).length <= 4096)) throw bad();
    return { path: r.path as string, dev: r.dev as string, ino: r.ino as string, size: r.size as string, mtimeNs: r.mtimeNs as string, ctimeNs: r.ctimeNs as string };
  });
  return { top, files: parsed };
}
