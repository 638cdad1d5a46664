import { DiskImageError } from '../errors.js';
import type { ChainContext, DiskImage, OpenOptions } from '../formats/types.js';
import { resolveParent, type ParentCandidate } from './resolve.js';

/** What a child knows of its parent, for finding and verifying it. */
export interface ParentIdentity {
  /** How the child names the parent's identity, for messages ("UUID 1234-..." or "linkage {…}"). */
  expected: string;
  /** The identity a candidate file has, as text, or undefined when it has none of the right kind. */
  identityOf(parent: DiskImage): string | undefined;
  /** True when the candidate's identity is the one the child recorded. */
  matches(parent: DiskImage): boolean;
  /** The child's virtual size: a parent of another size is refused. */
  virtualSize: number;
}

async function checkSize(childPath: string, id: ParentIdentity, parent: DiskImage, found: string): Promise<DiskImage> {
  if (parent.virtualSize === id.virtualSize) return parent;
  await parent.close();
  throw new DiskImageError('PARENT', `${childPath}: parent ${found} is ${parent.virtualSize} bytes, the child ${id.virtualSize}`, { path: found });
}

/**
 * Opens the parent of a differencing image: every candidate file the sandboxed
 * resolver finds is opened in turn, and the first whose identity matches the
 * child's record (the first found at all, with a warning, under
 * `ignoreParentUuid`) is the parent, provided its size is the child's. A
 * candidate that cannot be read as an image is passed over; a locked one stops
 * the open (IO). Throws `PARENT` naming what was found and what was expected.
 */
export async function openMatchingParent(
  childPath: string,
  candidates: ParentCandidate[],
  id: ParentIdentity,
  options: OpenOptions,
  chain: ChainContext,
): Promise<DiskImage> {
  const ctx = { childPath, parentDirs: options.parentDirs ?? [], visited: chain.visited, depth: chain.depth + 1, expected: id.expected };
  const mismatched: string[] = [];
  for (const found of resolveParent(candidates, ctx)) {
    let parent: DiskImage;
    try {
      parent = await chain.openParent(found);
    } catch (err) {
      chain.visited.delete(found);
      if (!(err instanceof DiskImageError) || err.code === 'IO') throw err;
      mismatched.push(`${found} (${err.message})`);
      continue;
    }
    if (id.matches(parent)) return checkSize(childPath, id, parent, found);
    const got = id.identityOf(parent) ?? `none (${parent.format})`;
    mismatched.push(`${found} (${got})`);
    if (options.ignoreParentUuid) {
      options.onWarning?.(`${childPath}: parent ${found} is ${got}, the child expects ${id.expected}; opening anyway`);
      return checkSize(childPath, id, parent, found);
    }
    chain.visited.delete(found);
    await parent.close();
  }
  throw new DiskImageError('PARENT', `${childPath}: no parent with ${id.expected}; found only ${mismatched.join('; ')} (--ignore-parent-uuid to open anyway)`, {
    expected: id.expected,
    found: mismatched,
  });
}
