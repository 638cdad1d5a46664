import { DiskImageError } from '../../errors.js';
import type { ImageFile } from '../../io/image-file.js';
import { roundUp } from '../../util/checked.js';
import {
  ENTRY_SIZE,
  FLAG_REDUNDANT_GT,
  FLAG_VALID_NEWLINE,
  HEADER_SIZE,
  MAX_SPARSE_FILE_SECTORS,
  SECTOR,
  SPARSE_VERSION,
  WRITE_GRAIN_SECTORS,
  WRITE_GTES_PER_GT,
} from './constants.js';
import { encodeSparseHeader } from './header.js';

/**
 * Where a new hosted sparse extent keeps its metadata, in sectors, laid out
 * as VMware Workstation does: header, embedded descriptor, redundant GD and
 * all its grain tables, GD and all its grain tables, padding to a whole
 * grain (overHead); grains are appended after it. Every grain table exists
 * from the start, so the directories never change.
 */
export interface SparseLayout {
  capacity: number;
  grainSize: number;
  gdEntries: number;
  descriptorSectors: number;
  rgdSector: number;
  gdSector: number;
  /** Sectors of one grain directory. */
  gdSectors: number;
  overHead: number;
}

/** Sectors of one grain table of WRITE_GTES_PER_GT entries. */
export const GT_SECTORS = (WRITE_GTES_PER_GT * ENTRY_SIZE) / SECTOR;

/**
 * The layout of a sparse extent of `capacity` sectors with `descriptorSectors`
 * of embedded descriptor (0: none) and grains of `grainSize` sectors;
 * OUT_OF_RANGE past what u32 sector pointers reach.
 */
export function planSparse(capacity: number, descriptorSectors: number, grainSize = WRITE_GRAIN_SECTORS): SparseLayout {
  const gdEntries = Math.ceil(capacity / (grainSize * WRITE_GTES_PER_GT));
  const gdSectors = Math.max(1, Math.ceil((gdEntries * ENTRY_SIZE) / SECTOR));
  const copy = gdSectors + gdEntries * GT_SECTORS;
  const rgdSector = 1 + descriptorSectors;
  const gdSector = rgdSector + copy;
  const overHead = roundUp(gdSector + copy, grainSize);
  if (overHead + roundUp(capacity, grainSize) > MAX_SPARSE_FILE_SECTORS) {
    throw new DiskImageError('OUT_OF_RANGE', `a VMDK sparse extent holds less than 2 TiB (its pointers are 32-bit sectors), not ${capacity * SECTOR} bytes; use subformat=twoGbMaxExtentSparse`, {
      value: capacity * SECTOR,
    });
  }
  return { capacity, grainSize, gdEntries, descriptorSectors, rgdSector, gdSector, gdSectors, overHead };
}

/** The sector of grain table `g` of the directory at `gdSector` (tables follow their directory, in order). */
export function tableSectorOf(l: SparseLayout, gdSector: number, g: number): number {
  return gdSector + l.gdSectors + g * GT_SECTORS;
}

/** A grain directory pointing at the tables that follow it. */
function encodeDirectory(l: SparseLayout, gdSector: number): Uint8Array {
  const buf = new Uint8Array(l.gdSectors * SECTOR);
  const view = new DataView(buf.buffer);
  for (let g = 0; g < l.gdEntries; g++) view.setUint32(g * ENTRY_SIZE, tableSectorOf(l, gdSector, g), true);
  return buf;
}

/** The header of a hosted sparse extent laid out as `l` (version 1, redundant GD, valid newline characters, no compression). */
export function sparseHeader(l: SparseLayout): Uint8Array {
  return encodeSparseHeader({
    version: SPARSE_VERSION,
    flags: FLAG_VALID_NEWLINE | FLAG_REDUNDANT_GT,
    capacity: l.capacity,
    grainSize: l.grainSize,
    descriptorOffset: l.descriptorSectors ? 1 : 0,
    descriptorSize: l.descriptorSectors,
    numGTEsPerGT: WRITE_GTES_PER_GT,
    rgdOffset: l.rgdSector,
    gdOffset: BigInt(l.gdSector),
    overHead: l.overHead,
    compressAlgorithm: 0,
  });
}

/**
 * Writes a new, empty sparse extent into `file`: the header, the
 * descriptor area (`descriptor`, whole sectors, or none), both directories;
 * the tables are left as holes (all entries 0) and the file ends at overHead.
 */
export async function writeEmptySparse(file: ImageFile, capacity: number, grainSize: number, descriptor?: Uint8Array): Promise<SparseLayout> {
  const l = planSparse(capacity, descriptor ? descriptor.length / SECTOR : 0, grainSize);
  await file.truncate(l.overHead * SECTOR);
  await file.write(sparseHeader(l), 0);
  if (descriptor) await file.write(descriptor, HEADER_SIZE);
  await file.write(encodeDirectory(l, l.rgdSector), l.rgdSector * SECTOR);
  await file.write(encodeDirectory(l, l.gdSector), l.gdSector * SECTOR);
  return l;
}
