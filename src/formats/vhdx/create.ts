import { DiskImageError } from '../../errors.js';
import { openDiskFile } from '../../io/file.js';
import type { ImageFile } from '../../io/image-file.js';
import { isPowerOfTwo, roundUp } from '../../util/checked.js';
import { parseSize } from '../../util/sizes.js';
import { randomUuid } from '../../util/uuid.js';
import { parseGuid } from '../../util/guid.js';
import type { CreateOptions } from '../types.js';
import { encodeBatEntry } from './bat.js';
import { batGeometry, payloadEntryIndex } from './bat-geometry.js';
import { BAT_REGION, DEFAULT_BLOCK_SIZE, FILE_SIGNATURE, HEADER_OFFSETS, MAX_BLOCK_SIZE, MAX_VIRTUAL_SIZE, METADATA_REGION, MIN_BLOCK_SIZE, MiB, PayloadState, REGION_TABLE_OFFSETS } from './constants.js';
import { encodeHeader, type HeaderFields } from './header.js';
import { readVhdxLayout } from './layout.js';
import { encodeMetadataRegion } from './metadata-writer.js';
import { parentLocatorEntries } from './parent-link.js';
import { vhdxParentRef } from './parent-ref.js';
import { VhdxLayer } from './reader.js';
import { encodeRegionTable } from './region-table.js';
import { WritableVhdxLayer } from './writer.js';
import { preallocate, wantsPreallocation } from '../preallocation.js';
import { VHDX_MAX_BAT_ENTRIES } from '../../limits.js';

/** `-o` options `vdisk create -f vhdx` accepts. */
export const VHDX_CREATE_OPTIONS = ['subformat', 'block_size', 'logical_sector_size', 'physical_sector_size', 'preallocation'] as const;

/** Creator string vdisk writes in the file type identifier (2.2.1). */
const CREATOR = 'vdisk 0.1.0';

/** Where vdisk puts the log (1 MiB at 1 MiB) and the metadata region (1 MiB at 2 MiB); the BAT follows at 3 MiB. */
const LOG_OFFSET = MiB;
const LOG_LENGTH = MiB;
const METADATA_OFFSET = 2 * MiB;
const METADATA_LENGTH = MiB;
const BAT_OFFSET = 3 * MiB;

function sectorOption(text: string | undefined, name: string, dflt: number): number {
  const v = text === undefined ? dflt : Number(text);
  if (v !== 512 && v !== 4096) throw new DiskImageError('USAGE', `VHDX ${name} must be 512 or 4096, not ${text}`);
  return v;
}

/** Header fields of a new file: fresh write GUIDs, no log, 1 MiB log region. */
function newHeader(sequenceNumber: bigint): HeaderFields {
  return {
    signature: 'head',
    checksum: 0,
    sequenceNumber,
    fileWriteGuid: randomUuid(),
    dataWriteGuid: randomUuid(),
    logGuid: new Uint8Array(16),
    logVersion: 0,
    version: 1,
    logLength: LOG_LENGTH,
    logOffset: BigInt(LOG_OFFSET),
  };
}

/**
 * Creates a new VHDX: identifier, two headers, two region tables, an empty
 * 1 MiB log, the metadata region and the BAT. Fixed disks get every block
 * allocated (fully present, file sparse); dynamic and differencing ones none.
 */
export async function createVhdx(path: string, opts: CreateOptions): Promise<WritableVhdxLayer> {
  const o = opts.options;
  const parent = opts.parent?.layer;
  if (parent && !(parent instanceof VhdxLayer)) throw new DiskImageError('UNSUPPORTED', `a differencing VHDX needs a VHDX parent, not ${parent.format}`);
  const logical = parent ? parent.layout.metadata.logicalSectorSize : sectorOption(o.logical_sector_size, 'logical_sector_size', 512);
  const physical = sectorOption(o.physical_sector_size, 'physical_sector_size', 4096);
  const size = roundUp(opts.virtualSize, logical);
  if (size <= 0 || size > MAX_VIRTUAL_SIZE) throw new DiskImageError('OUT_OF_RANGE', `VHDX size must be from ${logical} bytes to 64 TiB, not ${size}`, { value: size });
  if (parent && parent.virtualSize !== size) throw new DiskImageError('USAGE', `a differencing VHDX has its parent's size (${parent.virtualSize}), not ${size}`);
  const blockSize = o.block_size === undefined ? (parent?.grain ?? DEFAULT_BLOCK_SIZE) : parseSize(o.block_size);
  if (!isPowerOfTwo(blockSize) || blockSize < MIN_BLOCK_SIZE || blockSize > MAX_BLOCK_SIZE) throw new DiskImageError('USAGE', `VHDX block_size must be a power of two from 1M to 256M, not ${o.block_size}`);
  const sub = o.subformat ?? 'dynamic';
  if (sub !== 'fixed' && sub !== 'dynamic') throw new DiskImageError('USAGE', `VHDX subformat must be fixed or dynamic, not '${sub}'`);
  const fixed = !parent && sub === 'fixed';
  const full = wantsPreallocation(o, fixed, 'vhdx');
  const g = batGeometry(size, blockSize, logical, parent !== undefined);
  if (g.totalEntries > VHDX_MAX_BAT_ENTRIES) throw new DiskImageError('USAGE', `block_size ${blockSize} is too small for a ${size}-byte VHDX`);
  const batLength = roundUp(g.totalEntries * 8, MiB);
  const file = await (opts.openFile ?? openDiskFile)(path, 'create');
  try {
    await writeStructures(file, { size, blockSize, logical, physical, fixed, batLength, parent, uuid: opts.uuid === undefined ? undefined : parseGuid(opts.uuid) });
    const bat = new Uint8Array(batLength);
    const dataStart = BAT_OFFSET + batLength;
    if (fixed) for (let b = 0; b < g.payloadBlocks; b++) bat.set(encodeBatEntry(PayloadState.fullyPresent, dataStart / MiB + (b * blockSize) / MiB), payloadEntryIndex(g, b) * 8);
    await file.write(bat, BAT_OFFSET);
    await file.truncate(fixed ? dataStart + g.payloadBlocks * blockSize : dataStart);
    if (full) await preallocate(file, dataStart, g.payloadBlocks * blockSize);
    await file.sync();
    const layout = await readVhdxLayout(file, true);
    return new WritableVhdxLayer(path, layout, vhdxParentRef(path, layout));
  } catch (err) {
    await file.close();
    throw err;
  }
}

interface Structures {
  size: number;
  blockSize: number;
  logical: number;
  physical: number;
  fixed: boolean;
  batLength: number;
  parent?: VhdxLayer;
  uuid?: Uint8Array;
}

async function writeStructures(file: ImageFile, s: Structures): Promise<void> {
  const ident = new Uint8Array(64 * 1024);
  ident.set(Buffer.from(FILE_SIGNATURE, 'latin1'), 0);
  ident.set(Buffer.from(CREATOR, 'utf16le'), 8);
  await file.write(ident, 0);
  const h0 = newHeader(0n);
  await file.write(encodeHeader(h0), HEADER_OFFSETS[0]);
  await file.write(encodeHeader({ ...h0, sequenceNumber: 1n }), HEADER_OFFSETS[1]);
  const regions = encodeRegionTable([
    { guid: BAT_REGION, offset: BAT_OFFSET, length: s.batLength, required: true },
    { guid: METADATA_REGION, offset: METADATA_OFFSET, length: METADATA_LENGTH, required: true },
  ]);
  for (const off of REGION_TABLE_OFFSETS) await file.write(regions, off);
  const metadata = encodeMetadataRegion(
    {
      blockSize: s.blockSize,
      leaveBlocksAllocated: s.fixed,
      virtualSize: s.size,
      diskId: s.uuid ?? randomUuid(),
      logicalSectorSize: s.logical,
      physicalSectorSize: s.physical,
      parentLocator: s.parent ? parentLocatorEntries(file.path, s.parent) : undefined,
    },
    METADATA_LENGTH,
  );
  await file.write(metadata, METADATA_OFFSET);
}
