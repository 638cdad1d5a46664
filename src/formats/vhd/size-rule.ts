import { SECTOR } from './constants.js';
import type { Footer } from './footer.js';
import { geometrySize, isMaxGeometry } from './geometry.js';

/**
 * Creators whose images are sized by CHS geometry, by vdisk and by qemu >= 10.0:
 * Virtual PC ("vpc ") and qemu before `force_size` ("qemu"). Every other
 * creator (Hyper-V "win ", Azure "wa\0\0", disk2vhd, XenServer, ...) is sized
 * by the footer's current size. See docs/formats/vhd.md.
 */
const CHS_CREATORS = ['vpc ', 'qemu'];

/** Creators qemu 7.2 sizes by current size; every other creator it sizes by CHS (block/vpc.c, 7.2). */
const QEMU72_CURRENT_SIZE_CREATORS = ['win ', 'qem2', 'd2v ', 'CTXS', 'tap\0'];

/** How a reader arrives at the virtual size. */
export type SizeRule = 'current-size' | 'chs';

/** The virtual size vdisk uses for an image, and by which rule. */
export function vdiskSize(f: Footer): { size: number; rule: SizeRule } {
  const byChs = CHS_CREATORS.includes(f.fields.creatorApp) && !isMaxGeometry(f.geometry);
  const size = byChs ? Math.min(geometrySize(f.geometry), f.currentSize) : f.currentSize;
  return { size: Math.floor(size / SECTOR) * SECTOR, rule: byChs ? 'chs' : 'current-size' };
}

/** The virtual size qemu-img 7.2 (Debian bookworm) reports for the same footer. */
export function qemu72Size(f: Footer): number {
  const byCurrent = QEMU72_CURRENT_SIZE_CREATORS.includes(f.fields.creatorApp) || isMaxGeometry(f.geometry);
  return byCurrent ? Math.floor(f.currentSize / SECTOR) * SECTOR : geometrySize(f.geometry);
}
