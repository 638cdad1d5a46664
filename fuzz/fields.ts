import { vhdChecksum } from '../src/formats/vhd/checksum.js';
import { crc32cWithZeroField } from '../src/util/crc32c.js';
import type { FuzzFormat } from './seeds.js';

/** An integer field of a format's metadata: file offset, width in bytes, byte order. */
export interface Field {
  at: number;
  width: 1 | 2 | 4 | 8;
  le: boolean;
}

/** What the structure-aware mutator knows of a format: its fields in a given file, and how to make its checksums valid again. */
export interface FormatModel {
  fields(bytes: Uint8Array): Field[];
  fixChecksums(bytes: Uint8Array): void;
  /** A mutation of the text a file holds (a VMDK descriptor, backup JSON), or undefined when it holds none. */
  mutateText?(bytes: Uint8Array, rand: () => number): { bytes: Uint8Array; step: string } | undefined;
  /** Makes the gates that span files valid again (a backup index's name and its manifest's digest), in place. */
  fixSet?(files: Map<string, Uint8Array>): void;
}

const view = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);

/** Fields of `width` and order `le` at `base` plus each of `offsets`, those inside the file only. */
function at(bytes: Uint8Array, base: number, le: boolean, width: Field['width'], offsets: number[]): Field[] {
  return offsets.map((o) => ({ at: base + o, width, le })).filter((f) => f.at >= 0 && f.at + f.width <= bytes.length);
}

/** Reads a field's value (a u64 as a number, losing precision past 2^53). */
export function readField(bytes: Uint8Array, f: Field): number {
  const v = view(bytes);
  if (f.width === 1) return v.getUint8(f.at);
  if (f.width === 2) return v.getUint16(f.at, f.le);
  if (f.width === 4) return v.getUint32(f.at, f.le);
  return Number(v.getBigUint64(f.at, f.le));
}

/** Writes `value` (truncated to the field's width) into a field. */
export function writeField(bytes: Uint8Array, f: Field, value: bigint): void {
  const v = view(bytes);
  const x = BigInt.asUintN(f.width * 8, value);
  if (f.width === 1) v.setUint8(f.at, Number(x));
  else if (f.width === 2) v.setUint16(f.at, Number(x), f.le);
  else if (f.width === 4) v.setUint32(f.at, Number(x), f.le);
  else v.setBigUint64(f.at, x, f.le);
}

const hasText = (b: Uint8Array, offset: number, text: string): boolean => Buffer.from(b.subarray(offset, offset + text.length)).toString('latin1') === text;

/** VHD (big-endian): both footers, the dynamic header and its 8 parent locators, the first BAT entries (VHD spec, Appendix A). */
const vhd: FormatModel = {
  fields: (b) => {
    const out = [...at(b, b.length - 512, false, 8, [16, 40, 48]), ...at(b, b.length - 512, false, 4, [12, 56, 60])];
    if (!hasText(b, 0, 'conectix')) return out;
    out.push(...at(b, 0, false, 4, [12, 56, 60]), ...at(b, 0, false, 8, [16, 40, 48]));
    out.push(...at(b, 512, false, 8, [8, 16]), ...at(b, 512, false, 4, [24, 28, 32]));
    for (let i = 0; i < 8; i++) out.push(...at(b, 512 + 576 + i * 24, false, 4, [0, 4, 8]), ...at(b, 512 + 576 + i * 24, false, 8, [16]));
    for (let i = 0; i < 8; i++) out.push(...at(b, 1536, false, 4, [i * 4]));
    return out;
  },
  fixChecksums: (b) => {
    const fix = (o: number, len: number, sum: number): void => {
      if (o >= 0 && o + len <= b.length) view(b).setUint32(o + sum, vhdChecksum(b.subarray(o, o + len), sum), false);
    };
    if (hasText(b, b.length - 512, 'conectix')) fix(b.length - 512, 512, 64);
    if (hasText(b, 0, 'conectix')) fix(0, 512, 64);
    if (hasText(b, 512, 'cxsparse')) fix(512, 1024, 36);
  },
};

/** Where vdisk puts VHDX structures (1 MiB log, metadata at 2 MiB, BAT at 3 MiB): headers, region tables, metadata table and items, BAT. */
const VHDX_AT = { headers: [64 * 1024, 128 * 1024], regions: [192 * 1024, 256 * 1024], metadata: 2 * 1024 * 1024, bat: 3 * 1024 * 1024 };

/** VHDX (little-endian, MS-VHDX 2.2-2.6). */
const vhdx: FormatModel = {
  fields: (b) => {
    const out: Field[] = [];
    for (const h of VHDX_AT.headers) out.push(...at(b, h, true, 8, [8, 72]), ...at(b, h, true, 2, [64, 66]), ...at(b, h, true, 4, [68]));
    for (const r of VHDX_AT.regions) {
      out.push(...at(b, r, true, 4, [8]));
      for (let i = 0; i < 2; i++) out.push(...at(b, r + 16 + i * 32, true, 8, [16]), ...at(b, r + 16 + i * 32, true, 4, [24, 28]));
    }
    out.push(...at(b, VHDX_AT.metadata, true, 2, [10]));
    for (let i = 0; i < 6; i++) out.push(...at(b, VHDX_AT.metadata + 32 + i * 32, true, 4, [16, 20, 24]));
    out.push(...at(b, VHDX_AT.metadata + 64 * 1024, true, 4, [0, 4]), ...at(b, VHDX_AT.metadata + 68 * 1024, true, 8, [0]));
    out.push(...at(b, VHDX_AT.metadata + 72 * 1024, true, 4, [0]), ...at(b, VHDX_AT.metadata + 76 * 1024, true, 4, [0]));
    for (let i = 0; i < 8; i++) out.push(...at(b, VHDX_AT.bat, true, 8, [i * 8]));
    return out;
  },
  fixChecksums: (b) => {
    for (const [o, len] of [...VHDX_AT.headers.map((h) => [h, 4096]), ...VHDX_AT.regions.map((r) => [r, 64 * 1024])] as [number, number][]) {
      if (o + len <= b.length) view(b).setUint32(o + 4, crc32cWithZeroField(b.subarray(o, o + len), 4), true);
    }
  },
};

/** VMDK hosted sparse extent header (little-endian, "Hosted Sparse Extent Header"), when the file starts with KDMV. */
const vmdk: FormatModel = {
  fields: (b) => {
    if (!hasText(b, 0, 'KDMV')) return [];
    const out = [...at(b, 0, true, 4, [4, 8, 44]), ...at(b, 0, true, 8, [12, 20, 28, 36, 48, 56, 64]), ...at(b, 0, true, 1, [72]), ...at(b, 0, true, 2, [77])];
    // A truncated mutant may end inside the header: no directory then.
    const gd = b.length >= 64 ? Number(view(b).getBigUint64(56, true)) * 512 : -1;
    for (let i = 0; i < 4; i++) out.push(...at(b, gd, true, 4, [i * 4]));
    const gt = gd >= 0 && gd + 4 <= b.length ? view(b).getUint32(gd, true) * 512 : -1;
    for (let i = 0; i < 8; i++) out.push(...at(b, gt, true, 4, [i * 4]));
    return out;
  },
  fixChecksums: () => undefined,
};

/** qcow2 (big-endian, qcow2.txt): the header, the first L1, L2 and refcount table entries it points to. */
const qcow2: FormatModel = {
  fields: (b) => {
    if (!hasText(b, 0, 'QFI\xfb')) return [];
    const out = [...at(b, 0, false, 4, [4, 16, 20, 32, 36, 56, 60, 96, 100]), ...at(b, 0, false, 8, [8, 24, 40, 48, 64, 72, 80, 88]), ...at(b, 0, false, 1, [104])];
    const u64 = (o: number): number => (o >= 0 && o + 8 <= b.length ? Number(view(b).getBigUint64(o, false) & 0x00fffffffffffe00n) : -1);
    const l1 = u64(40);
    for (let i = 0; i < 4; i++) out.push(...at(b, l1, false, 8, [i * 8]));
    const l2 = u64(l1);
    for (let i = 0; i < 8; i++) out.push(...at(b, l2, false, 8, [i * 8]));
    const rt = u64(48);
    for (let i = 0; i < 2; i++) out.push(...at(b, rt, false, 8, [i * 8]));
    const rb = u64(rt);
    for (let i = 0; i < 8; i++) out.push(...at(b, rb, false, 2, [i * 2]));
    // Header extensions (type, length) from header_length on, and the first snapshot table entry.
    const ext = b.length >= 104 ? view(b).getUint32(100, false) : -1;
    for (let i = 0, o = ext; i < 4 && o >= 0 && o + 8 <= b.length; i++, o += 8 + ((view(b).getUint32(o + 4, false) + 7) & ~7)) out.push(...at(b, o, false, 4, [0, 4]));
    const snap = u64(64);
    out.push(...at(b, snap, false, 8, [0]), ...at(b, snap, false, 4, [8]), ...at(b, snap, false, 2, [12, 14]), ...at(b, snap, false, 4, [32, 36]));
    return out;
  },
  fixChecksums: () => undefined,
};

/** VDI (little-endian, VirtualBox VDICore.h): the pre-header, the version 1 header after it, and the first block map entries. */
const vdi: FormatModel = {
  fields: (b) => {
    const out = [...at(b, 0, true, 4, [64, 68]), ...at(b, 72, true, 4, [0, 4, 8, 268, 272, 288, 304, 308, 312, 316]), ...at(b, 72, true, 8, [296])];
    const map = b.length >= 344 ? view(b).getUint32(72 + 268, true) : -1;
    for (let i = 0; i < 8; i++) out.push(...at(b, map, true, 4, [i * 4]));
    return out;
  },
  fixChecksums: () => undefined,
};

/** raw has no metadata: only the generic mutations apply. */
const raw: FormatModel = { fields: () => [], fixChecksums: () => undefined };

/** The model of each format. */
export const MODELS: Record<FuzzFormat, FormatModel> = { raw, vhd, vhdx, vmdk, qcow2, vdi };
