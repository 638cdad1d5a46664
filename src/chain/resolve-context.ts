import { DiskImageError } from '../errors.js';
import type { ParentCandidate } from '../formats/layer.js';

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

/** Finds the paths the candidates a child records for its parent lead to, best first; throws `PARENT` when there are none. */
export type ParentResolver = (candidates: ParentCandidate[], ctx: ResolveContext) => string[];

/**
 * The path of a file an image names beside itself (a VMDK extent, a qcow2
 * external data file), found from the image's own path; `what` names it in
 * errors. It must not reach anything else: the CLI's (chain/resolve.ts
 * resolveBeside) stays in the image's directory, the browser's among the
 * picked files.
 */
export type BesideResolver = (imagePath: string, name: string, what?: string) => string;

/** Most candidates a PARENT error names; the rest are counted (a directory of hundreds of files is searched for a VDI's parent). */
const LISTED_CANDIDATES = 8;

/** The first LISTED_CANDIDATES of `items` joined by '; ', and how many more there were. */
export function listCandidates(items: string[]): string {
  const more = items.length > LISTED_CANDIDATES ? `; and ${items.length - LISTED_CANDIDATES} more` : '';
  return items.slice(0, LISTED_CANDIDATES).join('; ') + more;
}

/** A URL (scheme://), which a name an image records beside itself must never be. */
export const URL_SCHEME = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//;

/** A Windows absolute path: a drive letter or a UNC name. */
export const WINDOWS_ABSOLUTE = /^(?:[a-zA-Z]:[\\/]|\\\\)/;

/** The `CORRUPT` error for a file an image names beside itself that it may not reach, saying `why`. */
export function besideRefusal(imagePath: string, name: string, what: string, why: string): DiskImageError {
  return new DiskImageError('CORRUPT', `${imagePath}: ${what} '${name}' ${why}`, { path: imagePath, field: what, value: name });
}

/**
 * The name of a file an image names beside itself, with '/' separators,
 * once checked: a URL, an absolute name, or one that climbs out with `..`, is
 * `CORRUPT` (an image must not reach files elsewhere).
 */
export function besideName(imagePath: string, name: string, what: string): string {
  const posix = name.replace(/\\/g, '/');
  const refuse = (why: string) => besideRefusal(imagePath, name, what, why);
  if (URL_SCHEME.test(name)) throw refuse('is a URL; extents must lie beside the descriptor');
  if (WINDOWS_ABSOLUTE.test(name) || posix.startsWith('/')) throw refuse('is an absolute path; extents must lie beside the descriptor');
  if (posix.split('/').some((s) => s === '..')) throw refuse("climbs out of the descriptor's directory");
  return posix;
}
