import { readdirSync, realpathSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { DiskImageError } from '../errors.js';
import { ANY_FILE, hasExtension, type ParentCandidate } from '../formats/layer.js';
import { isUrl } from '../io/http-source.js';
import { WINDOWS_ABSOLUTE, besideName, besideRefusal, listCandidates, type ResolveContext } from './resolve-context.js';
import { limitNote, MAX_SCANNED_FILES, maxChainDepth } from '../limits.js';

export type { ResolveContext } from './resolve-context.js';


/** True when `path` is a regular file (after symlinks); false when it is anything else or cannot be stat'ed. */
function isRegularFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** The files of `dir` whose name ends in `.ext` (any case; ANY_FILE: its regular files), sorted, at most MAX_SCANNED_FILES; none when it cannot be listed. */
function filesWithExtension(dir: string, ext: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const paths = names.filter((n) => hasExtension(n, ext)).sort().slice(0, MAX_SCANNED_FILES).map((n) => join(dir, n));
  return ext === ANY_FILE ? paths.filter(isRegularFile) : paths;
}

/** Turns a stored path into the POSIX paths to try, relative to the child's directory. */
function pathsFor(c: ParentCandidate, childDir: string, dirs: string[]): string[] {
  if (c.anyWithExtension) return dirs.flatMap((d) => filesWithExtension(d, c.anyWithExtension!));
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
  const maxDepth = maxChainDepth(process.env);
  if (ctx.depth >= maxDepth) {
    throw new DiskImageError('PARENT', `${ctx.childPath}: chain deeper than ${maxDepth} images (${limitNote('MAX_CHAIN_DEPTH', maxDepth)})`, { depth: ctx.depth });
  }
  if (isUrl(ctx.childPath)) return resolveUrlParent(candidates, ctx);
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

/**
 * The URLs the candidates lead to for a child read over HTTP: a relative
 * path resolves against the child's URL; an absolute one (which names a path
 * on the machine that made the chain) is looked for by its file name in the
 * child's directory and in every `--parent-dir` that is a URL. A URL must lie
 * on the same server, under one of those directories (the same sandbox as
 * for files), and not be part of the chain already. Whether it exists is
 * found out by opening it.
 */
function resolveUrlParent(candidates: ParentCandidate[], ctx: ResolveContext): string[] {
  const dirs = [new URL('.', ctx.childPath).href, ...ctx.parentDirs.filter(isUrl).map((d) => new URL(d.endsWith('/') ? d : `${d}/`).href)];
  const tried: string[] = [];
  const found: string[] = [];
  for (const c of candidates) {
    if (c.anyWithExtension) {
      tried.push(`${c.path} (${c.source}: a directory cannot be listed over HTTP; download the chain)`);
      continue;
    }
    const posix = c.path.replace(/\\/g, '/');
    const absolute = c.nameOnly || WINDOWS_ABSOLUTE.test(c.path) || posix.startsWith('/');
    const urls = absolute ? dirs.map((d) => new URL(encodeURIComponent(basename(posix)), d).href) : [new URL(posix.split('/').map(encodeURIComponent).join('/'), ctx.childPath).href];
    for (const url of urls) {
      if (found.includes(url) || tried.some((t) => t.startsWith(`${url} `))) continue;
      if (!dirs.some((d) => url.startsWith(d))) tried.push(`${url} (${c.source}: outside the allowed directories; add --parent-dir)`);
      else if (ctx.visited.has(url)) tried.push(`${url} (${c.source}: already part of this chain, a loop)`);
      else found.push(url);
    }
  }
  if (found.length > 0) return found;
  throw parentNotFound(ctx, tried);
}

/** The `PARENT` error for a parent that could not be found, listing what was tried. */
function parentNotFound(ctx: ResolveContext, tried: string[]): DiskImageError {
  const list = tried.length ? listCandidates(tried) : 'the image names no parent path';
  return new DiskImageError('PARENT', `${ctx.childPath}: parent with ${ctx.expected} not found; tried ${list}`, {
    tried,
    expected: ctx.expected,
  });
}

/**
 * The path of a file a descriptor names beside itself (a VMDK extent, a
 * qcow2 external data file: `what` names it in errors), for the descriptor
 * at `descriptorPath`: a relative name without `..` that is not a URL,
 * resolved in the descriptor's directory (or against its URL), which after
 * resolving symlinks still lies in that directory. Anything else is `CORRUPT`: a
 * descriptor must not reach files elsewhere.
 */
export function resolveBeside(descriptorPath: string, name: string, what = 'extent file'): string {
  const posix = besideName(descriptorPath, name, what);
  if (isUrl(descriptorPath)) return new URL(posix.split('/').map(encodeURIComponent).join('/'), descriptorPath).href;
  const dir = dirname(resolve(descriptorPath));
  const p = join(dir, posix);
  let real: string;
  try {
    real = realpathSync(p);
  } catch {
    return p;
  }
  const allowed = realDir(dir);
  if (allowed === undefined || !inside(real, allowed)) throw besideRefusal(descriptorPath, name, what, `leads to ${real}, outside the descriptor's directory`);
  return p;
}
