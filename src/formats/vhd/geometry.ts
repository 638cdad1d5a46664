import { MAX_CHS_SECTORS, SECTOR } from './constants.js';

/** Cylinders, heads and sectors per track, as stored in the footer's Disk Geometry field. */
export interface Geometry {
  cylinders: number;
  heads: number;
  sectorsPerTrack: number;
}

/**
 * CHS geometry for a size, by the algorithm of the VHD specification
 * (Appendix A, "CHS Calculation"). Integer divisions as in the spec's C code.
 */
export function geometryForSize(size: number): Geometry {
  let totalSectors = Math.floor(size / SECTOR);
  if (totalSectors > MAX_CHS_SECTORS) totalSectors = MAX_CHS_SECTORS;
  let sectorsPerTrack: number;
  let heads: number;
  let cylinderTimesHeads: number;
  if (totalSectors >= 65535 * 16 * 63) {
    sectorsPerTrack = 255;
    heads = 16;
    cylinderTimesHeads = Math.floor(totalSectors / sectorsPerTrack);
  } else {
    sectorsPerTrack = 17;
    cylinderTimesHeads = Math.floor(totalSectors / sectorsPerTrack);
    heads = Math.floor((cylinderTimesHeads + 1023) / 1024);
    if (heads < 4) heads = 4;
    if (cylinderTimesHeads >= heads * 1024 || heads > 16) {
      sectorsPerTrack = 31;
      heads = 16;
      cylinderTimesHeads = Math.floor(totalSectors / sectorsPerTrack);
    }
    if (cylinderTimesHeads >= heads * 1024) {
      sectorsPerTrack = 63;
      heads = 16;
      cylinderTimesHeads = Math.floor(totalSectors / sectorsPerTrack);
    }
  }
  return { cylinders: Math.floor(cylinderTimesHeads / heads), heads, sectorsPerTrack };
}

/** Bytes addressed by a geometry: C x H x S x 512. */
export function geometrySize(g: Geometry): number {
  return g.cylinders * g.heads * g.sectorsPerTrack * SECTOR;
}

/** True for the 65535/16/255 maximum, which every reader takes as "size by current size". */
export function isMaxGeometry(g: Geometry): boolean {
  return g.cylinders * g.heads * g.sectorsPerTrack === MAX_CHS_SECTORS;
}
