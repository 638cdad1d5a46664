import type { ImageInfo } from '../types.js';
import { formatVdiUuid, type VdiGeometry, type VdiHeader } from './header.js';

function geometry(g: VdiGeometry): Record<string, number> {
  return { cylinders: g.cylinders, heads: g.heads, sectors: g.sectors, sectorSize: g.sectorSize };
}

/**
 * What `info` prints of a VDI image: the image type as VirtualBox names it
 * (normal = dynamic, fixed, diff), the block size, and the header fields
 * VirtualBox shows or matches by (UUIDs, comment, geometry).
 */
export function describeVdi(path: string, h: VdiHeader, fileSize: number, allocated: number, warnings: string[]): ImageInfo {
  return {
    filename: path,
    format: 'vdi',
    subformat: h.type === 'normal' ? 'dynamic' : h.type,
    virtualSize: h.diskSize,
    fileSize,
    clusterSize: h.blockSize,
    uuid: formatVdiUuid(h.uuidCreate),
    formatSpecific: {
      version: `${h.version >>> 16}.${h.version & 0xffff}`,
      imageType: h.type,
      blockSize: h.blockSize,
      blockExtra: h.blockExtra,
      blocks: h.blocks,
      blocksOffset: h.blocksOffset,
      dataOffset: h.dataOffset,
      blocksAllocated: allocated,
      blocksAllocatedInHeader: h.blocksAllocated,
      uuidModify: formatVdiUuid(h.uuidModify),
      ...(h.type === 'diff' && { uuidLinkage: formatVdiUuid(h.uuidLinkage) }),
      ...(h.type === 'diff' && h.uuidParentModify && { uuidParentModify: formatVdiUuid(h.uuidParentModify) }),
      ...(h.comment && { comment: h.comment }),
      legacyGeometry: geometry(h.legacyGeometry),
      ...(h.lchsGeometry && { lchsGeometry: geometry(h.lchsGeometry) }),
    },
    warnings: [...warnings],
  };
}
