import { DiskImageError } from '../../errors.js';
import { crc32cWithZeroField } from '../../util/crc32c.js';
import { u64ToNumber } from '../../util/checked.js';
import { formatGuid } from '../../util/guid.js';
import { uuidEqual } from '../../util/uuid.js';
import { BAT_REGION, KiB64, MAX_REGION_ENTRIES, METADATA_REGION, MiB, REGION_SIGNATURE } from './constants.js';

/** One region table entry (2.2.3.2). */
export interface Region {
  guid: Uint8Array;
  offset: number;
  length: number;
  required: boolean;
}

/** The regions vdisk uses, checked. */
export interface Regions {
  bat: Region;
  metadata: Region;
  all: Region[];
}

/** Decodes a region table slot; undefined when its signature or checksum is wrong. */
export function decodeRegionTable(buf: Uint8Array): Region[] | undefined {
  const view = new DataView(buf.buffer, buf.byteOffset, KiB64);
  if (Buffer.from(buf.subarray(0, 4)).toString('latin1') !== REGION_SIGNATURE) return undefined;
  if (crc32cWithZeroField(buf.subarray(0, KiB64), 4) !== view.getUint32(4, true)) return undefined;
  const count = view.getUint32(8, true);
  if (count > MAX_REGION_ENTRIES) return undefined;
  const out: Region[] = [];
  for (let i = 0; i < count; i++) {
    const at = 16 + i * 32;
    out.push({
      guid: buf.slice(at, at + 16),
      offset: u64ToNumber(view.getBigUint64(at + 16, true), 'region offset'),
      length: view.getUint32(at + 24, true),
      required: (view.getUint32(at + 28, true) & 1) === 1,
    });
  }
  return out;
}

/** Encodes a region table (64 KiB) with a fresh CRC-32C. */
export function encodeRegionTable(regions: Region[]): Uint8Array {
  const buf = new Uint8Array(KiB64);
  const view = new DataView(buf.buffer);
  buf.set(Buffer.from(REGION_SIGNATURE, 'latin1'), 0);
  view.setUint32(8, regions.length, true);
  regions.forEach((r, i) => {
    const at = 16 + i * 32;
    buf.set(r.guid, at);
    view.setBigUint64(at + 16, BigInt(r.offset), true);
    view.setUint32(at + 24, r.length, true);
    view.setUint32(at + 28, r.required ? 1 : 0, true);
  });
  view.setUint32(4, crc32cWithZeroField(buf, 4), true);
  return buf;
}

/**
 * Checks the regions: 1 MiB aligned, inside the file, past the first 1 MiB,
 * not overlapping; a required region vdisk does not know is UNSUPPORTED
 * (2.2.3.2); the BAT and metadata regions must be there.
 */
export function checkRegions(regions: Region[], fileSize: number): Regions {
  const known = [BAT_REGION, METADATA_REGION];
  const sorted = [...regions].sort((a, b) => a.offset - b.offset);
  for (const [i, r] of sorted.entries()) {
    const name = formatGuid(r.guid);
    if (r.required && !known.some((k) => uuidEqual(k, r.guid))) {
      throw new DiskImageError('UNSUPPORTED', `VHDX has a required region ${name} that vdisk does not know`, { region: name });
    }
    if (r.offset % MiB !== 0 || r.length % MiB !== 0 || r.length === 0 || r.offset < MiB || r.offset + r.length > fileSize) {
      throw new DiskImageError('CORRUPT', `VHDX region ${name} at ${r.offset} (length ${r.length}) is not 1 MiB aligned inside the file (${fileSize} bytes)`, { region: name, offset: r.offset, length: r.length });
    }
    const next = sorted[i + 1];
    if (next && r.offset + r.length > next.offset) {
      throw new DiskImageError('CORRUPT', `VHDX regions ${name} and ${formatGuid(next.guid)} overlap`, { offset: r.offset });
    }
  }
  const bat = regions.find((r) => uuidEqual(r.guid, BAT_REGION));
  const metadata = regions.find((r) => uuidEqual(r.guid, METADATA_REGION));
  if (!bat || !metadata) throw new DiskImageError('CORRUPT', `VHDX region table lacks the ${bat ? 'metadata' : 'BAT'} region`);
  return { bat, metadata, all: regions };
}
