import { DiskImageError } from '../../errors.js';
import { decodeStruct, defineStruct } from '../../util/struct.js';
import { COWD_GTES_PER_GT, COWD_HEADER_SIZE, COWD_MAGIC } from './constants.js';
import { gdEntries, type SparseHeader } from './header.js';
import { limitNote, VMDK_MAX_GRAIN_SECTORS } from '../../limits.js';

/** COWDisk_Header, little-endian, the fields vdisk reads ("ESX Server Sparse Extents"). */
export const COWD_HEADER = defineStruct('COWDisk_Header', COWD_HEADER_SIZE, 'le', {
  magicNumber: { offset: 0, type: 'u32' },
  version: { offset: 4, type: 'u32' },
  flags: { offset: 8, type: 'u32' },
  numSectors: { offset: 12, type: 'u32' },
  grainSize: { offset: 16, type: 'u32' },
  gdOffset: { offset: 20, type: 'u32' },
  numGDEntries: { offset: 24, type: 'u32' },
  freeSector: { offset: 28, type: 'u32' },
  uncleanShutdown: { offset: 1648, type: 'u32' },
});

function corrupt(field: string, value: number, why: string): DiskImageError {
  return new DiskImageError('CORRUPT', `VMDK COWD header: ${field} ${value} ${why}`, { field, value });
}

/**
 * Decodes an ESX sparse (COWD) extent header as the SparseHeader the grain
 * walk uses: 4096 entries per grain table, no descriptor, no redundant
 * directory, no compression. Version 1 only; grainSize from 1 to
 * VMDK_MAX_GRAIN_SECTORS; the directory must have an entry for every table the
 * capacity needs.
 */
export function parseCowdHeader(buf: Uint8Array): SparseHeader {
  const f = decodeStruct(COWD_HEADER, buf);
  if (f.magicNumber !== COWD_MAGIC) throw new DiskImageError('INVALID_FORMAT', 'not a COWD extent', { field: 'magicNumber', value: f.magicNumber });
  if (f.version !== 1) throw new DiskImageError('UNSUPPORTED', `VMDK COWD extent version ${f.version} is not supported (1)`, { field: 'version', value: f.version });
  if (f.grainSize < 1 || f.grainSize > VMDK_MAX_GRAIN_SECTORS) throw corrupt('grainSize', f.grainSize, `is not from 1 to ${VMDK_MAX_GRAIN_SECTORS} sectors (${limitNote('VMDK_MAX_GRAIN_SECTORS', VMDK_MAX_GRAIN_SECTORS)})`);
  const h: SparseHeader = {
    headerBytes: COWD_HEADER_SIZE,
    version: f.version,
    flags: 0,
    capacity: f.numSectors,
    grainSize: f.grainSize,
    descriptorOffset: 0,
    descriptorSize: 0,
    numGTEsPerGT: COWD_GTES_PER_GT,
    rgdOffset: 0,
    gdOffset: f.gdOffset,
    overHead: 0,
    uncleanShutdown: f.uncleanShutdown !== 0,
    compressed: false,
    newlinesIntact: true,
  };
  if (f.numGDEntries < gdEntries(h)) throw corrupt('numGDEntries', f.numGDEntries, `is too few for ${f.numSectors} sectors (needs ${gdEntries(h)})`);
  return h;
}
