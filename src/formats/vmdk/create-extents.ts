import { unlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { FileOpener } from '../../io/image-file.js';
import { SECTOR, SPLIT_EXTENT_SECTORS } from './constants.js';
import { encodeDescriptor, newDescriptor, type NewExtentLine } from './descriptor-writer.js';
import { writeEmptySparse } from './sparse-layout.js';

/** The disks vdisk writes as a descriptor file beside extent files. */
export type ExtentFileSubformat = 'monolithicFlat' | 'twoGbMaxExtentSparse' | 'twoGbMaxExtentFlat';

/**
 * The extent lines of a disk of `sectors` sectors named after `name`
 * (without its .vmdk): NAME-flat.vmdk for monolithicFlat; NAME-s001.vmdk,
 * NAME-s002.vmdk, ... (twoGbMaxExtentSparse) or NAME-f001.vmdk, ...
 * (twoGbMaxExtentFlat, each at offset 0) of SPLIT_EXTENT_SECTORS each, the
 * last shorter, as VMware names them ("The Descriptor File").
 */
function extentLines(sub: ExtentFileSubformat, name: string, sectors: number): NewExtentLine[] {
  const stem = name.replace(/\.vmdk$/i, '');
  if (sub === 'monolithicFlat') return [{ sectors, type: 'FLAT', file: `${stem}-flat.vmdk`, offset: 0 }];
  const flat = sub === 'twoGbMaxExtentFlat';
  const lines: NewExtentLine[] = [];
  for (let at = 0, i = 1; at < sectors; at += SPLIT_EXTENT_SECTORS, i++) {
    const file = `${stem}-${flat ? 'f' : 's'}${String(i).padStart(3, '0')}.vmdk`;
    lines.push({ sectors: Math.min(SPLIT_EXTENT_SECTORS, sectors - at), type: flat ? 'FLAT' : 'SPARSE', file, ...(flat && { offset: 0 }) });
  }
  return lines;
}

/**
 * Creates a descriptor file at `path` and its extent files beside it, named
 * after `finalPath` (the name the descriptor will have): a flat file the
 * disk's size (a hole), or empty sparse extents (no embedded descriptor).
 * None of the files may exist; on failure the ones made are removed.
 */
export async function createExtentFiles(
  path: string,
  finalPath: string,
  sub: ExtentFileSubformat,
  sectors: number,
  grainSize: number,
  options: Record<string, string>,
  openFile: FileOpener,
  uuid?: string,
): Promise<void> {
  const lines = extentLines(sub, basename(finalPath), sectors);
  const dir = dirname(resolve(path));
  const made: string[] = [];
  try {
    for (const line of lines) {
      const file = await openFile(join(dir, line.file), 'create');
      made.push(file.path);
      try {
        if (line.type === 'FLAT') await file.truncate(line.sectors * SECTOR);
        else await writeEmptySparse(file, line.sectors, grainSize);
        await file.sync();
      } finally {
        await file.close();
      }
    }
    const descriptor = await openFile(path, 'create');
    made.push(descriptor.path);
    try {
      await descriptor.write(Buffer.from(encodeDescriptor(newDescriptor(sub, sectors, lines, options, uuid)), 'utf8'), 0);
      await descriptor.sync();
    } finally {
      await descriptor.close();
    }
  } catch (err) {
    for (const f of made) await unlink(f).catch(() => undefined);
    throw err;
  }
}
