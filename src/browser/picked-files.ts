import { DiskImageError } from '../errors.js';
import { besideName, listCandidates, type ResolveContext } from '../chain/resolve-context.js';
import { hasExtension, type ParentCandidate } from '../formats/layer.js';
import type { ImageFile, OpenMode } from '../io/image-file.js';
import { readOnlyFile } from '../io/read-only-file.js';
import { MAX_CHAIN_DEPTH } from '../limits.js';
import { BlobSource } from './blob-source.js';

/** The last component of a path recorded in an image, Windows or POSIX. */
function baseName(path: string): string {
  return path.replace(/\\/g, '/').split('/').pop() ?? '';
}

/**
 * The files a user picked in a browser, by name: the namespace an image and
 * its parents are opened in. A parent is looked for by the file name its
 * child records (every locator's last component), among the picked files
 * only; so is a file an image names beside itself (a VMDK extent). Nothing
 * else can be reached, so a hostile locator or extent line reads nothing.
 */
export class PickedFiles {
  private readonly byName = new Map<string, Blob>();

  /** `files`: name and contents of each picked file; a later file of the same name replaces an earlier one. */
  constructor(files: Iterable<{ name: string; blob: Blob }>) {
    for (const f of files) this.byName.set(f.name, f.blob);
  }

  /** The picked names, in the order picked. */
  get names(): string[] {
    return [...this.byName.keys()];
  }

  /** Opens a picked file for reading (a FileOpener); another name is `IO`, writing is `USAGE`. */
  readonly open = async (name: string, mode: OpenMode): Promise<ImageFile> => {
    const blob = this.byName.get(name);
    if (!blob) throw new DiskImageError('IO', `cannot open ${name}: it is not among the picked files`, { path: name });
    if (mode !== 'read') throw new DiskImageError('USAGE', `${name}: a picked file can only be read`, { path: name, operation: mode });
    return readOnlyFile(new BlobSource(name, blob));
  };

  /** The picked files the candidates name, best first (a ParentResolver); `PARENT` naming what was tried when none is picked, or past MAX_CHAIN_DEPTH (the page has no environment variables to raise it). */
  readonly resolveParent = (candidates: ParentCandidate[], ctx: ResolveContext): string[] => {
    if (ctx.depth >= MAX_CHAIN_DEPTH) throw new DiskImageError('PARENT', `${ctx.childPath}: chain deeper than ${MAX_CHAIN_DEPTH} images`, { depth: ctx.depth });
    const found: string[] = [];
    const tried: string[] = [];
    for (const c of candidates) {
      const names = c.anyWithExtension ? this.names.filter((n) => hasExtension(n, c.anyWithExtension!)) : [baseName(c.path)];
      for (const n of names) {
        if (!this.byName.has(n)) tried.push(`${n} (${c.source}: not picked)`);
        else if (ctx.visited.has(n)) tried.push(`${n} (${c.source}: already part of this chain, a loop)`);
        else if (!found.includes(n)) found.push(n);
      }
    }
    if (found.length > 0) return found;
    throw new DiskImageError('PARENT', `${ctx.childPath}: parent with ${ctx.expected} not found among the picked files; tried ${listCandidates(tried) || 'nothing (the image names no parent path)'}; pick the parent too`, {
      tried,
      expected: ctx.expected,
    });
  };

  /**
   * The picked file an image names beside itself (a BesideResolver): the
   * last part of `name`. As in the CLI's directory (chain/resolve.ts), an
   * absolute name or one that climbs out with `..` is `CORRUPT`; a name not
   * picked is `IO`, saying to pick it too.
   */
  readonly resolveBeside = (imagePath: string, name: string, what = 'extent file'): string => {
    const picked = baseName(besideName(imagePath, name, what));
    if (!this.byName.has(picked)) throw new DiskImageError('IO', `${imagePath}: ${what} '${name}' is not among the picked files; pick it too`, { path: picked });
    return picked;
  };
}
