import { DiskImageError } from '../errors.js';
import type { Layer, ParentRef } from '../formats/layer.js';
import type { DiskImage, OpenOptions } from '../formats/types.js';
import type { FileOpener } from '../io/image-file.js';
import { listCandidates, type ParentResolver } from './resolve-context.js';

/** Where a layer sits in the chain being opened, and how to open the next one down. */
export interface ChainContext {
  /** 0 for the image the user named, 1 for its parent, ... */
  depth: number;
  /** Real paths of the layers opened so far (loop detection). */
  visited: Set<string>;
  /** Opens candidate parents, to look at their first bytes. */
  openFile: FileOpener;
  /** Finds the files a child's parent candidates lead to (chain/resolve.ts on a file system). */
  resolveParent: ParentResolver;
  /** Opens a parent file found by `resolveParent` (format probed), with its own chain. */
  openParent(path: string): Promise<DiskImage>;
}

async function checkSize(child: Layer, ref: ParentRef, parent: DiskImage, found: string): Promise<DiskImage> {
  const refusal = ref.refuseSize(parent.virtualSize);
  if (refusal === undefined) return parent;
  await parent.close();
  throw new DiskImageError('PARENT', `${child.path}: parent ${found} ${refusal}`, { path: found });
}

/** Bytes of a candidate parent given to ParentRef.headMatches. */
const HEAD_BYTES = 4096;

/** Whether the first bytes of `path` pass `ref.headMatches`; a file that cannot be read does not. */
async function headMatches(ref: ParentRef, path: string, openFile: FileOpener): Promise<boolean> {
  const file = await openFile(path, 'read').catch(() => undefined);
  if (!file) return false;
  try {
    const head = new Uint8Array(Math.min(HEAD_BYTES, file.size));
    await file.read(head, 0);
    return ref.headMatches!(head);
  } catch {
    return false;
  } finally {
    await file.close();
  }
}

/**
 * Opens the parent of a differencing layer from what it says of it (`ref`):
 * every candidate file the sandboxed resolver finds is opened in turn, and
 * the first whose identity matches the child's record (the first found at
 * all, with a warning, under `ignoreParentUuid`) is the parent, provided the
 * child's format accepts its size. A candidate that cannot be read as an
 * image, or a URL the server does not have (404), is passed over; a locked
 * file or another failed transfer stops the open (IO). Throws `PARENT`
 * naming what was found and what was expected.
 */
export async function openMatchingParent(child: Layer, ref: ParentRef, options: OpenOptions, chain: ChainContext): Promise<DiskImage> {
  const ctx = { childPath: child.path, parentDirs: options.parentDirs ?? [], visited: chain.visited, depth: chain.depth + 1, expected: ref.expected };
  const mismatched: string[] = [];
  for (const found of chain.resolveParent(ref.candidates, ctx)) {
    if (ref.headMatches && !(await headMatches(ref, found, chain.openFile))) {
      mismatched.push(`${found} (not it by its header)`);
      continue;
    }
    let parent: DiskImage;
    try {
      parent = await chain.openParent(found);
    } catch (err) {
      chain.visited.delete(found);
      if (!(err instanceof DiskImageError) || (err.code === 'IO' && err.details.status !== 404)) throw err;
      mismatched.push(`${found} (${err.message})`);
      continue;
    }
    if (ref.matches(parent.layer)) return checkSize(child, ref, parent, found);
    const got = ref.identityOf(parent.layer) ?? `none (${parent.format})`;
    mismatched.push(`${found} (${got})`);
    if (options.ignoreParentUuid) {
      options.onWarning?.(`${child.path}: parent ${found} is ${got}, the child expects ${ref.expected}; opening anyway`);
      return checkSize(child, ref, parent, found);
    }
    chain.visited.delete(found);
    await parent.close();
  }
  throw new DiskImageError('PARENT', `${child.path}: no parent with ${ref.expected}; found only ${listCandidates(mismatched)} (--ignore-parent-uuid to open anyway)`, {
    expected: ref.expected,
    found: mismatched,
  });
}
