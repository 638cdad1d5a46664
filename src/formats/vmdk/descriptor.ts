import { DiskImageError } from '../../errors.js';
import { MAX_VIRTUAL_BYTES, NEXT_PARENT_CID_KEY, NO_PARENT_CID, SECTOR } from './constants.js';
import { limitNote, VMDK_MAX_DESCRIPTOR_BYTES, VMDK_MAX_EXTENTS } from '../../limits.js';

/** Access of an extent ("The Descriptor File", Extent Descriptions: RW, RDONLY, NOACCESS). */
export type ExtentAccess = 'RW' | 'RDONLY' | 'NOACCESS';

/** Extent types the descriptor may name ("Extent Descriptions", plus SESPARSE from Virtual Disk Format 5.0). */
export const EXTENT_TYPES = ['FLAT', 'SPARSE', 'ZERO', 'VMFS', 'VMFSSPARSE', 'VMFSRDM', 'VMFSRAW', 'SESPARSE'] as const;

/** One of EXTENT_TYPES. */
export type ExtentType = (typeof EXTENT_TYPES)[number];

/** One extent line: `ACCESS SIZE TYPE "file" [offset]`, sizes in sectors. */
export interface ExtentLine {
  access: ExtentAccess;
  sectors: number;
  type: ExtentType;
  /** The quoted file name (absent for ZERO). */
  file?: string;
  /** Sectors into the file where a FLAT extent's data starts. */
  offset: number;
  /** 1-based line number, for messages. */
  line: number;
}

/** A parsed descriptor ("The Descriptor File": header, extents, disk database). */
export interface Descriptor {
  version: number;
  /** Content ID, changed on every first write of an open (Header: CID). */
  cid: number;
  /** The parent's CID, or NO_PARENT_CID (Header: parentCID). */
  parentCid: number;
  /** A second CID accepted for the parent while a commit into it runs (the NEXT_PARENT_CID_KEY disk database key). */
  nextParentCid?: number;
  createType: string;
  parentFileNameHint?: string;
  extents: ExtentLine[];
  /** `ddb.*` keys without the prefix (adapterType, geometry.cylinders, uuid, longContentID, ...). */
  ddb: Record<string, string>;
  /** Lines that were neither comments, keys nor extents. */
  warnings: string[];
}

/** Header keys that may appear once (a second one is an injection or a damaged file). */
const SINGLE_KEYS = new Set(['version', 'CID', 'parentCID', 'createType', 'parentFileNameHint']);

/** `ACCESS SIZE TYPE ["file" [offset]]` (Extent Descriptions). */
const EXTENT_LINE = /^(RW|RDONLY|NOACCESS)\s+(\d+)\s+([A-Z]+)(?:\s+"([^"]*)"(?:\s+(\d+))?)?$/;

/** `key = value` or `key = "value"`. */
const KEY_LINE = /^([A-Za-z][\w.]*)\s*=\s*(?:"([^"]*)"|(\S*))$/;

function corrupt(message: string, details: Record<string, unknown> = {}): DiskImageError {
  return new DiskImageError('CORRUPT', `VMDK descriptor: ${message}`, details);
}

/**
 * The descriptor's text: `bytes` up to the first NUL, as qemu and VMware
 * read it (a C string); whatever follows is ignored. An embedded descriptor
 * area is zero-filled after the text, but qemu rewrites a descriptor in
 * place when its CID changes (`CID=%x`, unpadded) and a shorter CID leaves
 * the old text's last bytes after the new NUL: `...\n\0\n\0...`. A
 * control character other than tab, CR and LF, or more than
 * VMDK_MAX_DESCRIPTOR_BYTES of text, is CORRUPT.
 */
export function descriptorText(bytes: Uint8Array): string {
  let end = bytes.indexOf(0);
  if (end < 0) end = bytes.length;
  if (end > VMDK_MAX_DESCRIPTOR_BYTES) throw corrupt(`${end} bytes is more than the ${VMDK_MAX_DESCRIPTOR_BYTES} vdisk reads (${limitNote('VMDK_MAX_DESCRIPTOR_BYTES', VMDK_MAX_DESCRIPTOR_BYTES)})`, { value: end, limit: VMDK_MAX_DESCRIPTOR_BYTES });
  for (let i = 0; i < end; i++) {
    const c = bytes[i]!;
    if ((c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) || c === 0x7f) throw corrupt(`control character 0x${c.toString(16)} at byte ${i}`, { offset: i, value: c });
  }
  return new TextDecoder('utf-8').decode(bytes.subarray(0, end));
}

function parseCid(key: string, value: string): number {
  if (!/^[0-9a-fA-F]{1,8}$/.test(value)) throw corrupt(`${key} '${value}' is not a 32-bit hex number`, { field: key, value });
  return parseInt(value, 16);
}

function parseExtent(m: RegExpExecArray, line: number): ExtentLine {
  const [, access, size, type, file, offset] = m;
  if (!(EXTENT_TYPES as readonly string[]).includes(type!)) throw corrupt(`line ${line}: unknown extent type ${type}`, { field: 'extent type', value: type });
  const sectors = Number(size);
  const at = offset === undefined ? 0 : Number(offset);
  if (!Number.isSafeInteger(sectors) || sectors * SECTOR > MAX_VIRTUAL_BYTES) throw corrupt(`line ${line}: extent size ${size} sectors is too large`, { field: 'extent size', value: size });
  if (!Number.isSafeInteger(at) || at * SECTOR > MAX_VIRTUAL_BYTES) throw corrupt(`line ${line}: extent offset ${offset} is too large`, { field: 'extent offset', value: offset });
  if (type !== 'ZERO' && file === undefined) throw corrupt(`line ${line}: ${type} extent names no file`);
  if (file !== undefined && file.length === 0) throw corrupt(`line ${line}: empty extent file name`);
  return { access: access as ExtentAccess, sectors, type: type as ExtentType, file, offset: at, line };
}

/**
 * Parses a descriptor's text: the header keys (version, CID, parentCID,
 * createType, parentFileNameHint), the extent lines in order and the
 * `ddb.` keys. Keys are case-sensitive as the spec writes them; a header key
 * given twice, a malformed extent line, more than VMDK_MAX_EXTENTS extents or
 * extents adding up past MAX_VIRTUAL_BYTES is CORRUPT.
 */
export function parseDescriptor(text: string): Descriptor {
  const keys = new Map<string, string>();
  const ddb: Record<string, string> = {};
  const extents: ExtentLine[] = [];
  const warnings: string[] = [];
  let total = 0;
  const lines = text.split('\n');
  for (const [i, raw] of lines.entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const ext = EXTENT_LINE.exec(line);
    if (ext) {
      if (extents.length >= VMDK_MAX_EXTENTS) throw corrupt(`more than ${VMDK_MAX_EXTENTS} extents (${limitNote('VMDK_MAX_EXTENTS', VMDK_MAX_EXTENTS)})`, { limit: VMDK_MAX_EXTENTS });
      const e = parseExtent(ext, i + 1);
      total += e.sectors;
      if (total * SECTOR > MAX_VIRTUAL_BYTES) throw corrupt(`extents add up to more than ${MAX_VIRTUAL_BYTES} bytes`, { limit: MAX_VIRTUAL_BYTES });
      extents.push(e);
      continue;
    }
    if (/^(RW|RDONLY|NOACCESS)\s/.test(line)) throw corrupt(`line ${i + 1}: malformed extent line '${line}'`, { line: i + 1 });
    const kv = KEY_LINE.exec(line);
    if (!kv) {
      warnings.push(`descriptor line ${i + 1} is neither a key nor an extent: '${line.slice(0, 80)}'`);
      continue;
    }
    const key = kv[1]!;
    const value = kv[2] ?? kv[3]!;
    if (key.startsWith('ddb.')) ddb[key.slice(4)] = value;
    else if (SINGLE_KEYS.has(key) && keys.has(key)) throw corrupt(`key ${key} appears twice`, { field: key });
    else keys.set(key, value);
  }
  const createType = keys.get('createType');
  if (createType === undefined) throw corrupt('no createType');
  const version = Number(keys.get('version') ?? '1');
  if (!Number.isInteger(version) || version < 1 || version > 3) throw corrupt(`version ${keys.get('version')} is not 1, 2 or 3`, { field: 'version', value: keys.get('version') });
  return {
    version,
    cid: parseCid('CID', keys.get('CID') ?? 'ffffffff'),
    parentCid: parseCid('parentCID', keys.get('parentCID') ?? NO_PARENT_CID.toString(16)),
    createType,
    parentFileNameHint: keys.get('parentFileNameHint'),
    ...(ddb[NEXT_PARENT_CID_KEY] !== undefined && { nextParentCid: parseCid(`ddb.${NEXT_PARENT_CID_KEY}`, ddb[NEXT_PARENT_CID_KEY]) }),
    extents,
    ddb,
    warnings,
  };
}
