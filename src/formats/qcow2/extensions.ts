import { DiskImageError } from '../../errors.js';
import {
  BITMAPS_EXT_SIZE,
  EXT_BACKING_FORMAT,
  EXT_BITMAPS,
  EXT_DATA_FILE,
  EXT_END,
  EXT_FDE,
  EXT_FEATURE_NAMES,
  FDE_EXT_SIZE,
  FEATURE_NAME_ENTRY,
} from './constants.js';

/** The bitmaps extension's fields ("Bitmaps extension"). */
export interface BitmapsExtension {
  nbBitmaps: number;
  directorySize: number;
  directoryOffset: number;
}

/** What the header extensions say ("Header extensions" and the sections of each type). */
export interface HeaderExtensions {
  /** Backing file format name ("String header extensions"). */
  backingFormat?: string;
  /** External data file name ("String header extensions"). */
  dataFile?: string;
  /** Feature names by "type:bit" ("Feature name table"). */
  featureNames: Map<string, string>;
  bitmaps?: BitmapsExtension;
  /** The full disk encryption header pointer ("Full disk encryption header pointer"). */
  fde?: { offset: number; length: number };
  /** Types of extensions vdisk does not know, as hex (they may be ignored). */
  unknown: string[];
  /** First byte past the extension area (the end marker included). */
  end: number;
}

function corrupt(why: string, type: number): DiskImageError {
  return new DiskImageError('CORRUPT', `qcow2 header extension 0x${type.toString(16).padStart(8, '0')}: ${why}`, { field: 'header extension', value: type });
}

/** The feature name table's entries by "type:bit" ("Feature name table"). */
function featureNames(data: Uint8Array): Map<string, string> {
  const out = new Map<string, string>();
  for (let at = 0; at + FEATURE_NAME_ENTRY <= data.length; at += FEATURE_NAME_ENTRY) {
    const name = Buffer.from(data.subarray(at + 2, at + FEATURE_NAME_ENTRY)).toString('latin1').replace(/\0.*$/s, '');
    out.set(`${data[at]!}:${data[at + 1]!}`, name);
  }
  return out;
}

function u64At(view: DataView, at: number, what: string, type: number): number {
  const v = view.getBigUint64(at, false);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw corrupt(`${what} ${v} is too large`, type);
  return Number(v);
}

/**
 * Walks the header extensions from `start` (header_length) to the end marker
 * inside `cluster` (the first cluster, where they must lie: "Header
 * extensions"). An extension whose length runs past the cluster, a known one
 * of the wrong length, or a known one twice is CORRUPT.
 */
export function parseExtensions(cluster: Uint8Array, start: number): HeaderExtensions {
  const view = new DataView(cluster.buffer, cluster.byteOffset, cluster.length);
  const out: HeaderExtensions = { featureNames: new Map(), unknown: [], end: start };
  const seen = new Set<number>();
  let at = start;
  for (;;) {
    if (at + 8 > cluster.length) throw corrupt(`the extension area runs past the first cluster (${cluster.length} bytes) without an end marker`, EXT_END);
    const type = view.getUint32(at, false);
    const length = view.getUint32(at + 4, false);
    if (type === EXT_END) {
      out.end = at + 8;
      return out;
    }
    const dataAt = at + 8;
    if (length > cluster.length - dataAt) throw corrupt(`length ${length} at byte ${at} runs past the first cluster (${cluster.length} bytes)`, type);
    if (seen.has(type)) throw corrupt('appears twice', type);
    seen.add(type);
    const data = cluster.subarray(dataAt, dataAt + length);
    const text = (): string => Buffer.from(data).toString('utf8');
    const sized = (n: number): DataView => {
      if (length !== n) throw corrupt(`is ${length} bytes, not ${n}`, type);
      return new DataView(data.buffer, data.byteOffset, n);
    };
    switch (type) {
      case EXT_BACKING_FORMAT:
        out.backingFormat = text();
        break;
      case EXT_DATA_FILE:
        out.dataFile = text();
        break;
      case EXT_FEATURE_NAMES:
        out.featureNames = featureNames(data);
        break;
      case EXT_BITMAPS: {
        const v = sized(BITMAPS_EXT_SIZE);
        out.bitmaps = { nbBitmaps: v.getUint32(0, false), directorySize: u64At(v, 8, 'bitmap_directory_size', type), directoryOffset: u64At(v, 16, 'bitmap_directory_offset', type) };
        break;
      }
      case EXT_FDE: {
        const v = sized(FDE_EXT_SIZE);
        out.fde = { offset: u64At(v, 0, 'offset', type), length: u64At(v, 8, 'length', type) };
        break;
      }
      default:
        out.unknown.push(`0x${type.toString(16).padStart(8, '0')}`);
    }
    at = dataAt + Math.ceil(length / 8) * 8;
  }
}
