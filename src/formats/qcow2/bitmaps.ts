import { DiskImageError } from '../../errors.js';
import type { ByteSource } from '../../io/byte-source.js';
import type { MetadataBudget } from '../../util/metadata-budget.js';
import { BITMAP_ENTRY_FIXED_SIZE, ENTRY_BYTES } from './constants.js';
import { bigEndianU32s } from './cluster-map.js';
import type { BitmapsExtension } from './extensions.js';
import { tableOffset } from './l2-entry.js';
import { limitNote, QCOW2_MAX_BITMAP_DIRECTORY_BYTES, QCOW2_MAX_BITMAPS } from '../../limits.js';

/** One persistent bitmap's directory entry ("Bitmap directory"): where its table is. */
export interface BitmapEntry {
  name: string;
  tableOffset: number;
  /** Entries in its bitmap table. */
  tableSize: number;
  flags: number;
  granularityBits: number;
}

/**
 * Reads the bitmap directory the bitmaps extension points to ("Bitmap
 * directory"): nb_bitmaps entries of variable length, each padded to 8
 * bytes. More than QCOW2_MAX_BITMAPS, a directory past QCOW2_MAX_BITMAP_DIRECTORY_BYTES
 * or the end of the file, or an entry running past the directory is CORRUPT.
 * Charged to `budget` before it is read.
 */
export async function readBitmapDirectory(file: ByteSource, ext: BitmapsExtension, budget: MetadataBudget): Promise<BitmapEntry[]> {
  const bad = (why: string): DiskImageError => new DiskImageError('CORRUPT', `${file.path}: qcow2 bitmap directory ${why}`, { path: file.path, field: 'bitmap directory', value: ext.directoryOffset });
  if (ext.nbBitmaps > QCOW2_MAX_BITMAPS) throw bad(`lists ${ext.nbBitmaps} bitmaps, more than ${QCOW2_MAX_BITMAPS} (${limitNote('QCOW2_MAX_BITMAPS', QCOW2_MAX_BITMAPS)})`);
  if (ext.directorySize > QCOW2_MAX_BITMAP_DIRECTORY_BYTES) throw bad(`of ${ext.directorySize} bytes is larger than ${QCOW2_MAX_BITMAP_DIRECTORY_BYTES} (${limitNote('QCOW2_MAX_BITMAP_DIRECTORY_BYTES', QCOW2_MAX_BITMAP_DIRECTORY_BYTES)})`);
  if (ext.directoryOffset + ext.directorySize > file.size) throw bad(`at ${ext.directoryOffset} runs past the end of the file`);
  budget.charge(ext.directorySize, 'qcow2 bitmap directory');
  const dir = new Uint8Array(ext.directorySize);
  await file.read(dir, ext.directoryOffset);
  const view = new DataView(dir.buffer);
  const out: BitmapEntry[] = [];
  let at = 0;
  for (let i = 0; i < ext.nbBitmaps; i++) {
    if (at + BITMAP_ENTRY_FIXED_SIZE > dir.length) throw bad(`entry ${i} runs past its ${dir.length} bytes`);
    const nameSize = view.getUint16(at + 18, false);
    const extra = view.getUint32(at + 20, false);
    const end = at + BITMAP_ENTRY_FIXED_SIZE + extra + nameSize;
    if (end > dir.length) throw bad(`entry ${i} runs past its ${dir.length} bytes`);
    const table = view.getBigUint64(at, false);
    out.push({
      name: Buffer.from(dir.subarray(end - nameSize, end)).toString('utf8'),
      tableOffset: table > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(table),
      tableSize: view.getUint32(at + 8, false),
      flags: view.getUint32(at + 12, false),
      granularityBits: dir[at + 17]!,
    });
    at = Math.ceil(end / 8) * 8;
  }
  return out;
}

/** The host offsets of a bitmap's data clusters ("Bitmap table": bits 9-55; 0 for a cluster of all zeros or all ones); the table is charged to `budget` before it is read. */
export async function bitmapDataClusters(file: ByteSource, b: BitmapEntry, budget: MetadataBudget): Promise<number[]> {
  budget.charge(b.tableSize * ENTRY_BYTES, `qcow2 bitmap '${b.name}' table`);
  const buf = new Uint8Array(b.tableSize * ENTRY_BYTES);
  await file.read(buf, b.tableOffset);
  const words = bigEndianU32s(buf);
  const out: number[] = [];
  for (let i = 0; i < b.tableSize; i++) {
    const at = tableOffset(words[2 * i]!, words[2 * i + 1]!);
    if (at !== 0) out.push(at);
  }
  return out;
}
