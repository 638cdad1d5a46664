import { statSync } from 'node:fs';
import { basename, dirname, relative, resolve } from 'node:path';
import type { ImageFile } from '../../io/image-file.js';
import { roundUp } from '../../util/checked.js';
import { PlatformCode, SECTOR } from './constants.js';
import { encodeParentName, type HeaderFields, type LocatorEntry } from './dynamic-header.js';
import { vhdTimestamp } from './footer.js';
import { encodeFileUrl, encodeUtf16lePath } from './parent-locator.js';
import type { VhdParentLink } from './new-image.js';
import type { VhdLayer } from './reader.js';

/** Header fields that name a parent: its UUID, its file's modification time and its file name (Appendix A). */
export function parentHeaderFields(parent: VhdLayer): Pick<HeaderFields, 'parentUniqueId' | 'parentTimestamp' | 'parentUnicodeName'> {
  return {
    parentUniqueId: parent.layout.footer.fields.uniqueId,
    parentTimestamp: vhdTimestamp(statSync(parent.path).mtime),
    parentUnicodeName: encodeParentName(basename(parent.path)),
  };
}

/** How a new child at `childPath` names `parent`: header fields and locators (new-image.ts writes them). */
export function vhdParentLink(childPath: string, parent: VhdLayer): VhdParentLink {
  return { fields: parentHeaderFields(parent), bytes: locatorBytes(childPath, parent.path), write: (file, at) => writeLocators(file, childPath, parent.path, at) };
}

/** Bytes the locator payloads for `parentPath` take in the file, each padded to whole sectors. */
export function locatorBytes(childPath: string, parentPath: string): number {
  return locatorPayloads(childPath, parentPath).reduce((n, l) => n + roundUp(l.data.length, SECTOR), 0);
}

/**
 * Writes the W2ku, W2ru and MacX payloads for a child at `childPath` naming
 * `parentPath`, from file offset `at` (sector-aligned), and returns the
 * header entries that point at them.
 */
export async function writeLocators(file: ImageFile, childPath: string, parentPath: string, at: number): Promise<LocatorEntry[]> {
  const entries: LocatorEntry[] = [];
  let pos = at;
  for (const { code, data } of locatorPayloads(childPath, parentPath)) {
    const space = roundUp(data.length, SECTOR);
    entries.push({ platformCode: code, platformDataSpace: space, platformDataLength: data.length, platformDataOffset: BigInt(pos) });
    await file.write(data, pos);
    pos += space;
  }
  return entries;
}

/** Paths a child records for its parent: Windows relative, Windows absolute, and a relative file URL. */
function locatorPayloads(childPath: string, parentPath: string): { code: number; data: Uint8Array }[] {
  const rel = relative(dirname(resolve(childPath)), resolve(parentPath));
  const relWin = `.\\${rel.replace(/\//g, '\\')}`;
  return [
    { code: PlatformCode.w2ku, data: encodeUtf16lePath(resolve(parentPath)) },
    { code: PlatformCode.w2ru, data: encodeUtf16lePath(relWin) },
    { code: PlatformCode.macx, data: encodeFileUrl(`./${rel}`) },
  ];
}
