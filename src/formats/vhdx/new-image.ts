import { DiskImageError } from '../../errors.js';
import type { ImageFile } from '../../io/image-file.js';
import { isPowerOfTwo, roundUp } from '../../util/checked.js';
import { parseSize } from '../../util/sizes.js';
import { randomUuid } from '../../util/uuid.js';
import { parseGuid } from '../../util/guid.js';
import { VHDX_MAX_BAT_ENTRIES } from '../../limits.js';
import { preallocate, wantsPreallocation } from '../preallocation.js';
import type { CreateOptions } from '../types.js';
import { encodeBatEntry } from './bat.js';
import { batGeometry, payloadEntryIndex, type BatGeometry } from './bat-geometry.js';
import { BAT_REGION, DEFAULT_BLOCK_SIZE, FILE_SIGNATURE, HEADER_OFFSETS, MAX_BLOCK_SIZE, MAX_VIRTUAL_SIZE, METADATA_REGION, MIN_BLOCK_SIZE, MiB, PayloadState, REGION_TABLE_OFFSETS } from './constants.js';
import { encodeHeader, type HeaderFields } from './header.js';
import { encodeMetadataRegion } from './metadata-writer.js';
import { VhdxLayer } from './reader.js';
import { encodeRegionTable } from './region-table.js';

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

/** A new VHDX, checked: sizes, sectors, whether it is fixed or preallocated, its BAT's geometry and length. */
export interface VhdxPlan {
  size: number;
  blockSize: number;
  logical: number;
  physical: number;
  fixed: boolean;
  preallocate: boolean;
  geometry: BatGeometry;
  batLength: number;
  uuid?: Uint8Array;
}

/**
 * Checks the options of a new VHDX (sector sizes, size, block size,
 * subformat, a parent's format and size) and returns what to write. Fixed
 * disks get every block allocated (fully present, file sparse); dynamic and
 * differencing ones none.
 */
export function planVhdx(opts: CreateOptions): VhdxPlan {
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
  const geometry = batGeometry(size, blockSize, logical, parent !== undefined);
  if (geometry.totalEntries > VHDX_MAX_BAT_ENTRIES) throw new DiskImageError('USAGE', `block_size ${blockSize} is too small for a ${size}-byte VHDX`);
  return {
    size,
    blockSize,
    logical,
    physical,
    fixed,
    preallocate: wantsPreallocation(o, fixed, 'vhdx'),
    geometry,
    batLength: roundUp(geometry.totalEntries * 8, MiB),
    uuid: opts.uuid === undefined ? undefined : parseGuid(opts.uuid),
  };
}

/**
 * Writes the new VHDX `plan` describes into the empty `file` and syncs it:
 * identifier, two headers, two region tables, an empty 1 MiB log, the
 * metadata region (with `parentLocator`, the entries naming a differencing
 * VHDX's parent) and the BAT.
 */
export async function writeNewVhdx(file: ImageFile, plan: VhdxPlan, parentLocator?: [string, string][]): Promise<void> {
  await writeStructures(file, plan, parentLocator);
  const g = plan.geometry;
  const bat = new Uint8Array(plan.batLength);
  const dataStart = BAT_OFFSET + plan.batLength;
  if (plan.fixed) for (let b = 0; b < g.payloadBlocks; b++) bat.set(encodeBatEntry(PayloadState.fullyPresent, dataStart / MiB + (b * plan.blockSize) / MiB), payloadEntryIndex(g, b) * 8);
  await file.write(bat, BAT_OFFSET);
  await file.truncate(plan.fixed ? dataStart + g.payloadBlocks * plan.blockSize : dataStart);
  if (plan.preallocate) await preallocate(file, dataStart, g.payloadBlocks * plan.blockSize);
  await file.sync();
}

async function writeStructures(file: ImageFile, s: VhdxPlan, parentLocator?: [string, string][]): Promise<void> {
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
      parentLocator,
    },
    METADATA_LENGTH,
  );
  await file.write(metadata, METADATA_OFFSET);
}
