import { DiskImageError } from '../../errors.js';
import { openDiskFile } from '../../io/file.js';
import type { FileOpener, ImageFile } from '../../io/image-file.js';
import { roundUp } from '../../util/checked.js';
import { ENTRY_SIZE, HEADER_SIZE, SECTOR } from './constants.js';
import { encodeTable, type GrainDirectory } from './grain-directory.js';
import { SPARSE_HEADER, hasSparseMagic } from './header.js';
import { spaceUse } from './space-use.js';
import { SparseExtent } from './sparse-extent.js';

/** True when directory `d` and every table it points to can be read. */
async function readable(d: GrainDirectory | undefined): Promise<boolean> {
  if (!d) return false;
  for (let g = 0; g < d.entries; g++) if ((await d.table(g).catch(() => null)) === null) return false;
  return true;
}

/**
 * Writes a new primary directory and copies of the redundant directory's
 * tables at `at` (the end of the file), fsync, then points the header's
 * gdOffset at it, fsync: a crash before the header write leaves the file
 * as it was, with unreferenced bytes at its end. Returns where the copy ends.
 */
async function rebuildPrimary(file: ImageFile, s: SparseExtent, at: number): Promise<number> {
  const redundant = s.redundant!;
  const gdBytes = roundUp(redundant.entries * ENTRY_SIZE, SECTOR);
  const gd = new Uint32Array(redundant.entries);
  let next = at + gdBytes;
  for (let g = 0; g < redundant.entries; g++) {
    const table = await redundant.table(g);
    if (!table) continue;
    gd[g] = next / SECTOR;
    await file.write(encodeTable(table), next);
    next += roundUp(redundant.tableBytes, SECTOR);
  }
  const gdArea = new Uint8Array(gdBytes);
  gdArea.set(encodeTable(gd));
  await file.write(gdArea, at);
  await file.sync();
  const header = new Uint8Array(HEADER_SIZE);
  await file.read(header, 0);
  new DataView(header.buffer).setBigUint64(SPARSE_HEADER.fields.gdOffset.offset, BigInt(at / SECTOR), true);
  await file.write(header, 0);
  await file.sync();
  return next;
}

/**
 * Copies every grain table of the redundant directory that differs from
 * the primary's over the primary's, fsync. vdisk writes the redundant
 * tables first and fsyncs them before the primary's (sparse-writer.ts), and
 * both copies only ever point at grains whose data was already on disk, so
 * either copy is a state the disk was in: taking the redundant one makes
 * them agree without guessing at data. Returns what it changed.
 */
async function alignPrimaryTables(file: ImageFile, s: SparseExtent): Promise<string[]> {
  const { primary, redundant } = s;
  const copied: number[] = [];
  for (let g = 0; g < primary!.entries; g++) {
    const [a, b] = await Promise.all([primary!.table(g), redundant!.table(g)]);
    if (!a || !b || a.every((x, i) => x === b[i])) continue;
    await file.write(encodeTable(b), (await primary!.tableSector(g)) * SECTOR);
    copied.push(g);
  }
  if (copied.length === 0) return [];
  await file.sync();
  return [`copied ${copied.length} grain table(s) from the redundant directory over the primary's (table ${copied.slice(0, 8).join(', ')}${copied.length > 8 ? ', ...' : ''})`];
}

/**
 * `check --repair` of a monolithic sparse VMDK, fixing only what needs no
 * guess: a damaged primary grain directory (it, or a table it points to,
 * cannot be read) is rebuilt from an intact redundant one at the end of the
 * file; primary grain tables that differ from the redundant ones (a crash
 * between the two table writes of a flush) take the redundant copies;
 * bytes past the last structure are cut off. Compressed
 * (streamOptimized) files and descriptor files are left alone. Returns what
 * it changed; CORRUPT when both directories are damaged.
 */
export async function repairVmdk(path: string, openFile: FileOpener = openDiskFile): Promise<string[]> {
  const file = await openFile(path, 'write');
  try {
    const head = new Uint8Array(Math.min(HEADER_SIZE, file.size));
    await file.read(head, 0);
    if (!hasSparseMagic(head)) return [];
    const s = await SparseExtent.open(file);
    if (s.header.compressed) return [];
    const changes: string[] = [];
    let { end } = await spaceUse(s);
    if (!(await readable(s.primary))) {
      if (!(await readable(s.redundant))) throw new DiskImageError('CORRUPT', `${path}: both grain directories are damaged; rebuilding one would be a guess`, { path });
      const at = end;
      end = await rebuildPrimary(file, s, at);
      changes.push(`rebuilt the grain directory from the redundant one at byte ${at}`);
    }
    if (s.redundant && (await readable(s.primary))) changes.push(...(await alignPrimaryTables(file, s)));
    if (file.size > end) {
      changes.push(`cut ${file.size - end} unreferenced bytes after byte ${end}`);
      await file.truncate(end);
      await file.sync();
    }
    return changes;
  } finally {
    await file.close();
  }
}
