import { realpathSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { DiskImageError } from '../errors.js';

/** Deepest chain vdisk opens; deeper is refused as a likely loop or hostile file. */
export const MAX_CHAIN_DEPTH = 64;

/** One place a child says its parent is, as the format stores it. */
export interface ParentCandidate {
  /** Where the candidate came from ("W2ru locator", "header parent name"). */
  source: string;
  /** The path as stored: POSIX or Windows, relative or absolute. */
  path: string;
  /** Only a file name: look for it in the allowed directories. */
  nameOnly?: boolean;
}

/** Where a parent may be looked for, and what has been opened on the way down. */
export interface ResolveContext {
  childPath: string;
  /** Extra allowed directories (`--parent-dir`). */
  parentDirs: string[];
  /** Real paths of the images already open in this chain (loop detection). */
  visited: Set<string>;
  depth: number;
  /** What the child expects, for the error message ("UUID 1234-..."). */
  expected: string;
}

const WINDOWS_ABSOLUTE = /^(?:[a-zA-Z]:[\\/]|\\\\)/;

/** Turns a stored path into the POSIX paths to try, relative to the child's directory. */
function pathsFor(c: ParentCandidate, childDir: string, dirs: string[]): string[] {
  if (c.nameOnly) return dirs.map((d) => join(d, basename(c.path.replace(/\\/g, '/'))));
  const posix = c.path.replace(/\\/g, '/');
  if (WINDOWS_ABSOLUTE.test(c.path)) {
    const name = basename(posix);
    return dirs.map((d) => join(d, name));
  }
  return [isAbsolute(posix) ? posix : resolve(childDir, posix)];
}

function inside(real: string, dir: string): boolean {
  const rel = relative(dir, real);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
}

function realDir(d: string): string | undefined {
  try {
    return realpathSync(d);
  } catch {
    return undefined;
  }
}

/**
 * Finds the files the candidates lead to, in candidate order: each exists,
 * lies (after resolving symlinks) inside the child's directory or a
 * `--parent-dir`, and is not already part of the chain. The caller opens them
 * in turn and keeps the first whose identity matches, so a stale locator
 * (a moved chain, a header half-rewritten by a crash) does not hide the right
 * parent. Throws `PARENT` naming every path tried and why each was passed over.
 */
export function resolveParent(candidates: ParentCandidate[], ctx: ResolveContext): string[] {
  if (ctx.depth >= MAX_CHAIN_DEPTH) {
    throw new DiskImageError('PARENT', `${ctx.childPath}: chain deeper than ${MAX_CHAIN_DEPTH} images`, { depth: ctx.depth });
  }
  const childDir = dirname(resolve(ctx.childPath));
  const dirs = [childDir, ...ctx.parentDirs.map((d) => resolve(d))];
  const allowed = dirs.map(realDir).filter((d): d is string => d !== undefined);
  const tried: string[] = [];
  const seen = new Set<string>();
  const found: string[] = [];
  for (const c of candidates) {
    for (const p of pathsFor(c, childDir, dirs)) {
      if (seen.has(p)) continue;
      seen.add(p);
      let real: string;
      try {
        if (!statSync(p).isFile()) {
          tried.push(`${p} (${c.source}: not a regular file)`);
          continue;
        }
        real = realpathSync(p);
      } catch {
        tried.push(`${p} (${c.source}: not found)`);
        continue;
      }
      if (!allowed.some((d) => inside(real, d))) tried.push(`${p} (${c.source}: outside the allowed directories; add --parent-dir)`);
      else if (ctx.visited.has(real)) tried.push(`${p} (${c.source}: already part of this chain, a loop)`);
      else if (!found.includes(real)) found.push(real);
    }
  }
  if (found.length > 0) return found;
  throw parentNotFound(ctx, tried);
}

/** The `PARENT` error for a parent that could not be found, listing what was tried. */
function parentNotFound(ctx: ResolveContext, tried: string[]): DiskImageError {
  const list = tried.length ? tried.join('; ') : 'the image names no parent path';
  return new DiskImageError('PARENT', `${ctx.childPath}: parent with ${ctx.expected} not found; tried ${list}`, {
    tried,
    expected: ctx.expected,
  });
}
