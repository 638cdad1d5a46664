import { DiskImageError } from '../../errors.js';
import type { ImageFile } from '../../io/image-file.js';
import { MetadataBudget } from '../../util/metadata-budget.js';
import { uuidIsNil } from '../../util/uuid.js';
import { readBat } from './bat.js';
import { batGeometry, type Bat, type Reserved } from './bat-geometry.js';
import { FILE_SIGNATURE, HEADER_OFFSETS, HEADER_SIZE, KiB64, MiB, REGION_TABLE_OFFSETS } from './constants.js';
import { currentHeader, decodeHeader, type VhdxHeader } from './header.js';
import { readActiveLog } from './log.js';
import type { LogReplay } from './log-updates.js';
import { readMetadata, type VhdxMetadata } from './metadata.js';
import { ReplayedFile } from './replayed-file.js';
import { checkRegions, decodeRegionTable, type Region, type Regions } from './region-table.js';

/** Everything read from a VHDX's metadata, validated, before any parent is opened. */
export interface VhdxLayout {
  /** The file to read through: the file itself, or a view with a pending log applied in memory. */
  file: ImageFile;
  creator: string;
  header: VhdxHeader;
  /** Both header slots as read (undefined: signature or CRC-32C wrong). */
  headers: (VhdxHeader | undefined)[];
  regions: Regions;
  /** Both region table slots as read. */
  regionTables: (Region[] | undefined)[];
  metadata: VhdxMetadata;
  bat: Bat;
  /** The log applied in memory on open (read-only opens only). */
  replay?: LogReplay;
  /** Problems that did not stop reading. */
  warnings: string[];
}

/** Reads and checks the file type identifier (2.2.1); returns the creator string. */
async function readIdentifier(file: ImageFile): Promise<string> {
  if (file.size < 4 * MiB) throw new DiskImageError('INVALID_FORMAT', `${file.path}: ${file.size} bytes is too small for a VHDX`);
  const buf = new Uint8Array(520);
  await file.read(buf, 0);
  if (Buffer.from(buf.subarray(0, 8)).toString('latin1') !== FILE_SIGNATURE) throw new DiskImageError('INVALID_FORMAT', `${file.path}: no 'vhdxfile' signature`);
  return Buffer.from(buf.subarray(8, 520)).toString('utf16le').replace(/\0.*$/s, '');
}

async function readSlots<T>(file: ImageFile, offsets: readonly number[], size: number, decode: (buf: Uint8Array, i: number) => T | undefined): Promise<(T | undefined)[]> {
  return Promise.all(
    offsets.map(async (off, i) => {
      const buf = new Uint8Array(size);
      await file.read(buf, off);
      return decode(buf, i);
    }),
  );
}

/**
 * Reads a VHDX: identifier, current header, log (applied in memory when the
 * file is read-only; refused for writing until `check --repair` replays it),
 * region table, metadata and BAT, each validated. The log kept for replay
 * and the BAT are charged to one metadata budget for the file.
 */
export async function readVhdxLayout(raw: ImageFile, writable: boolean): Promise<VhdxLayout> {
  const warnings: string[] = [];
  const creator = await readIdentifier(raw);
  const headers = await readSlots(raw, HEADER_OFFSETS, HEADER_SIZE, decodeHeader);
  const header = currentHeader(headers[0], headers[1]);
  if (!header) throw new DiskImageError('CORRUPT', `${raw.path}: both VHDX headers are damaged (signature or CRC-32C)`, { field: 'header' });
  if (!headers[0] || !headers[1]) warnings.push(`VHDX header ${headers[0] ? 2 : 1} is damaged; using the other (vdisk check --repair rewrites it)`);
  const budget = new MetadataBudget(raw.path);
  let file = raw;
  let replay: LogReplay | undefined;
  if (header.logLength > 0 || !uuidIsNil(header.fields.logGuid)) checkLogRegion(header, raw.size);
  if (!uuidIsNil(header.fields.logGuid)) {
    if (header.fields.logVersion !== 0) throw new DiskImageError('UNSUPPORTED', `${raw.path}: VHDX log version ${header.fields.logVersion} (only 0 exists)`);
    budget.charge(header.logLength, 'VHDX log');
    replay = await readActiveLog(raw, header.fields.logGuid, header.logOffset, header.logLength);
    if (!replay) budget.release(header.logLength);
    if (replay && writable) {
      throw new DiskImageError('UNSUPPORTED', `${raw.path} has a log that must be replayed before it can be changed (it was not closed cleanly); run vdisk check --repair`);
    }
    if (replay) {
      file = new ReplayedFile(raw, replay);
      warnings.push(`applied ${replay.entries} pending log entr${replay.entries === 1 ? 'y' : 'ies'} in memory; the file is unchanged (vdisk check --repair replays the log in place)`);
    }
  }
  const regionTables = await readSlots(file, REGION_TABLE_OFFSETS, KiB64, (b) => decodeRegionTable(b));
  const table = regionTables[0] ?? regionTables[1];
  if (!table) throw new DiskImageError('CORRUPT', `${raw.path}: both VHDX region tables are damaged (signature or CRC-32C)`, { field: 'regionTable' });
  if (!regionTables[0]) warnings.push('VHDX region table 1 is damaged; using table 2');
  const regions = checkRegions(table, file.size);
  const metadata = await readMetadata(file, regions.metadata);
  const geometry = batGeometry(metadata.virtualSize, metadata.blockSize, metadata.logicalSectorSize, metadata.hasParent);
  const reserved: Reserved[] = [
    { what: 'headers and region tables', offset: 0, length: MiB },
    ...regions.all.map((r) => ({ what: 'region', offset: r.offset, length: r.length })),
  ];
  if (header.logLength > 0) reserved.push({ what: 'log', offset: header.logOffset, length: header.logLength });
  const bat = await readBat(file, regions.bat, geometry, metadata.hasParent, reserved, budget);
  return { file, creator, header, headers, regions, regionTables, metadata, bat, replay, warnings };
}

function checkLogRegion(h: VhdxHeader, fileSize: number): void {
  if (h.logLength === 0 || h.logOffset % MiB !== 0 || h.logLength % MiB !== 0 || h.logOffset < MiB || h.logOffset + h.logLength > fileSize) {
    throw new DiskImageError('CORRUPT', `VHDX log at ${h.logOffset} (length ${h.logLength}) is not a 1 MiB aligned region inside the file`, { field: 'log', offset: h.logOffset, length: h.logLength });
  }
}
