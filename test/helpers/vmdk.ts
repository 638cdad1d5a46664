import { deflateSync } from 'node:zlib';
import type { DiskImageError, ErrorCode } from '../../src/errors.js';
import { openImage } from '../../src/formats/registry.js';
import { rejectsWithCode } from './assert-error.js';
import { readAll } from './images.js';

/** Opens `path` and reads the whole disk; the open or the read must fail with `code`. Returns the error. */
export function openOrReadFails(path: string, code: ErrorCode): Promise<DiskImageError> {
  return rejectsWithCode(async () => {
    const image = await openImage(path);
    try {
      await readAll(image);
    } finally {
      await image.close();
    }
  }, code);
}

/** What a scripted hosted sparse VMDK holds (test/formats/vmdk): grains by index, data or 'zero' (GTE 1). */
export interface SparseSpec {
  /** Capacity in sectors. */
  capacity: number;
  /** Sectors per grain (default 8: 4 KiB). */
  grainSize?: number;
  /** Entries per grain table (default 512). */
  gtes?: number;
  grains: Map<number, Uint8Array | 'zero'>;
  /** Deflate the grains behind {lba, size} markers, as streamOptimized does. */
  compressed?: boolean;
  /** Write gdOffset GD_AT_END in the header and the real one in a footer at the end. */
  gdAtEnd?: boolean;
  /** Keep a redundant directory and tables (flags bit 1). */
  redundant?: boolean;
  /** The embedded descriptor's text ('' for an empty area); default one monolithicSparse extent named x.vmdk. */
  descriptor?: string;
}

/** Where the pieces of a scripted VMDK are, in sectors, for tests that damage them. */
export interface SparseLayout {
  bytes: Buffer;
  gdSector: number;
  rgdSector: number;
  /** Sector of grain table g (primary). */
  gtSectors: number[];
  /** Sector of each stored grain (of its marker when compressed). */
  grainSectors: Map<number, number>;
  descriptorSectors: number;
}

/** The default embedded descriptor of a scripted VMDK. */
export function defaultDescriptor(capacity: number, extra = ''): string {
  return [
    '# Disk DescriptorFile',
    'version=1',
    'CID=1234abcd',
    'parentCID=ffffffff',
    'createType="monolithicSparse"',
    '',
    `RW ${capacity} SPARSE "x.vmdk"`,
    '',
    'ddb.adapterType = "lsilogic"',
    'ddb.geometry.cylinders = "8"',
    'ddb.geometry.heads = "16"',
    'ddb.geometry.sectors = "63"',
    'ddb.uuid = "60 00 C2 9b 69 2f c9 76-74 c4 07 9e 10 87 3b f9"',
    extra,
  ].join('\n');
}

/** Offsets of the SparseExtentHeader fields tests patch ("Hosted Sparse Extent Header"). */
export const FIELD = { version: 4, flags: 8, capacity: 12, grainSize: 20, descriptorOffset: 28, descriptorSize: 36, numGTEsPerGT: 44, rgdOffset: 48, gdOffset: 56, uncleanShutdown: 72 } as const;

const DESCRIPTOR_SECTORS = 20;

function header(spec: SparseSpec, gd: bigint, rgd: number, overHead: number, flags: number): Buffer {
  const h = Buffer.alloc(512);
  h.write('KDMV', 0, 'latin1');
  h.writeUInt32LE(spec.compressed ? 3 : 1, FIELD.version);
  h.writeUInt32LE(flags, FIELD.flags);
  h.writeBigUInt64LE(BigInt(spec.capacity), FIELD.capacity);
  h.writeBigUInt64LE(BigInt(spec.grainSize ?? 8), FIELD.grainSize);
  h.writeBigUInt64LE(1n, FIELD.descriptorOffset);
  h.writeBigUInt64LE(BigInt(DESCRIPTOR_SECTORS), FIELD.descriptorSize);
  h.writeUInt32LE(spec.gtes ?? 512, FIELD.numGTEsPerGT);
  h.writeBigUInt64LE(BigInt(rgd), FIELD.rgdOffset);
  h.writeBigUInt64LE(gd, FIELD.gdOffset);
  h.writeBigUInt64LE(BigInt(overHead), 64);
  h.write('\n \r\n', 73, 'latin1');
  h.writeUInt16LE(spec.compressed ? 1 : 0, 77);
  return h;
}

/** A sparse extent in memory: header, descriptor, redundant GD+GTs, GD+GTs, then the grains (and a footer for gdAtEnd). */
export function buildSparseVmdk(spec: SparseSpec): SparseLayout {
  const grainSize = spec.grainSize ?? 8;
  const gtes = spec.gtes ?? 512;
  const gdEntries = Math.ceil(spec.capacity / (grainSize * gtes));
  const gdSectorsN = Math.ceil((gdEntries * 4) / 512);
  const gtSectorsN = Math.ceil((gtes * 4) / 512);
  let next = 1 + DESCRIPTOR_SECTORS;
  const directory = (): { gd: number; gts: number[] } => {
    const gd = next;
    next += gdSectorsN;
    const gts = Array.from({ length: gdEntries }, (_, g) => next + g * gtSectorsN);
    next += gdEntries * gtSectorsN;
    return { gd, gts };
  };
  const rgd = spec.redundant ? directory() : undefined;
  const primary = directory();
  const overHead = next;
  const chunks: Buffer[] = [];
  const grainSectors = new Map<number, number>();
  const gte = new Map<number, number>();
  for (const [i, g] of [...spec.grains].sort((a, b) => a[0] - b[0])) {
    if (g === 'zero') {
      gte.set(i, 1);
      continue;
    }
    let body: Buffer = Buffer.from(g);
    if (spec.compressed) {
      const z = deflateSync(g);
      const m = Buffer.alloc(12);
      m.writeBigUInt64LE(BigInt(i * grainSize), 0);
      m.writeUInt32LE(z.length, 8);
      body = Buffer.concat([m, z]);
    }
    const padded = Buffer.alloc(Math.ceil(body.length / 512) * 512);
    body.copy(padded);
    grainSectors.set(i, next);
    gte.set(i, next);
    chunks.push(padded);
    next += padded.length / 512;
  }
  const flags = 1 | (spec.redundant ? 2 : 0) | 4 | (spec.compressed ? (1 << 16) | (1 << 17) : 0);
  const file = Buffer.alloc(next * 512 + (spec.gdAtEnd ? 1536 : 0));
  header(spec, spec.gdAtEnd ? 0xffffffffffffffffn : BigInt(primary.gd), rgd?.gd ?? 0, overHead, flags).copy(file, 0);
  Buffer.from(spec.descriptor ?? defaultDescriptor(spec.capacity), 'utf8').copy(file, 512);
  for (const d of [rgd, primary]) {
    if (!d) continue;
    d.gts.forEach((s, g) => {
      file.writeUInt32LE(s, d.gd * 512 + g * 4);
      for (let k = 0; k < gtes; k++) file.writeUInt32LE(gte.get(g * gtes + k) ?? 0, s * 512 + k * 4);
    });
  }
  Buffer.concat(chunks).copy(file, overHead * 512);
  if (spec.gdAtEnd) {
    const end = next * 512;
    file.writeUInt32LE(3, end + 12);
    header(spec, BigInt(primary.gd), rgd?.gd ?? 0, overHead, flags).copy(file, end + 512);
  }
  return { bytes: file, gdSector: primary.gd, rgdSector: rgd?.gd ?? 0, gtSectors: primary.gts, grainSectors, descriptorSectors: DESCRIPTOR_SECTORS };
}

/** A grain of `bytes` bytes filled with `value` plus its index, so grains differ. */
export function grainOf(bytes: number, value: number): Uint8Array {
  const g = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) g[i] = (value + (i >> 9)) & 0xff;
  return g;
}

/** The guest view a spec describes, for comparison. */
export function expectedGuest(spec: SparseSpec): Uint8Array {
  const grainBytes = (spec.grainSize ?? 8) * 512;
  const out = new Uint8Array(spec.capacity * 512);
  for (const [i, g] of spec.grains) if (g !== 'zero') out.set(g.subarray(0, Math.min(grainBytes, out.length - i * grainBytes)), i * grainBytes);
  return out;
}

/**
 * An ESX sparse (COWD) extent in memory ("ESX Server Sparse Extents"): a
 * 2048-byte header, the GD at sector 4, one 4096-entry GT per GD entry, then
 * the grains. Returns the bytes and the GD's sector.
 */
export function buildCowdExtent(capacity: number, grainSize: number, grains: Map<number, Uint8Array>): { bytes: Buffer; gdSector: number } {
  const gdEntries = Math.ceil(capacity / (grainSize * 4096));
  const gdSector = 4;
  const gtBase = gdSector + Math.ceil((gdEntries * 4) / 512);
  let next = gtBase + gdEntries * 32;
  const sorted = [...grains].sort((a, b) => a[0] - b[0]);
  const file = Buffer.alloc((next + sorted.length * grainSize) * 512);
  file.write('COWD', 0, 'latin1');
  for (const [at, v] of [[4, 1], [8, 3], [12, capacity], [16, grainSize], [20, gdSector], [24, gdEntries], [28, next + sorted.length * grainSize]]) file.writeUInt32LE(v!, at!);
  for (let g = 0; g < gdEntries; g++) file.writeUInt32LE(gtBase + g * 32, gdSector * 512 + g * 4);
  for (const [i, data] of sorted) {
    file.writeUInt32LE(next, (gtBase + Math.floor(i / 4096) * 32) * 512 + (i % 4096) * 4);
    Buffer.from(data).copy(file, next * 512);
    next += grainSize;
  }
  return { bytes: file, gdSector };
}
