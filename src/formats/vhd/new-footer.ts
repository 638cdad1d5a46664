import { DiskType, FEATURE_RESERVED, FOOTER_SIZE, FORMAT_VERSION, NO_DATA_OFFSET, WRITER_CREATOR } from './constants.js';
import { vhdTimestamp, type FooterFields } from './footer.js';
import { geometryForSize } from './geometry.js';

/** The footer vdisk writes for a new image (creator "win ", see constants.ts). */
export function newFooter(virtualSize: number, type: number, uuid: Uint8Array): FooterFields {
  const g = geometryForSize(virtualSize);
  return {
    cookie: 'conectix',
    features: FEATURE_RESERVED,
    formatVersion: FORMAT_VERSION,
    dataOffset: type === DiskType.fixed ? NO_DATA_OFFSET : BigInt(FOOTER_SIZE),
    timestamp: vhdTimestamp(new Date()),
    creatorApp: WRITER_CREATOR.app,
    creatorVersion: WRITER_CREATOR.version,
    creatorHostOs: WRITER_CREATOR.hostOs,
    originalSize: BigInt(virtualSize),
    currentSize: BigInt(virtualSize),
    cylinders: g.cylinders,
    heads: g.heads,
    sectorsPerTrack: g.sectorsPerTrack,
    diskType: type,
    checksum: 0,
    uniqueId: uuid,
    savedState: 0,
  };
}
