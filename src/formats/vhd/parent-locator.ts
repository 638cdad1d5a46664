import { DiskImageError } from '../../errors.js';
import { u64ToNumber } from '../../util/checked.js';
import type { ParentCandidate } from '../layer.js';
import { PlatformCode, SECTOR } from './constants.js';
import type { LocatorEntry } from './dynamic-header.js';
import { limitNote, VHD_MAX_LOCATOR_BYTES } from '../../limits.js';


/** A locator entry that points somewhere, with its code as text ("W2ru"). */
export interface DecodedLocator {
  code: string;
  offset: number;
  length: number;
  /** Reserved room in bytes (see `locatorSpaceBytes`). */
  space: number;
  path?: string;
  /** Why the path could not be decoded. */
  error?: string;
}

/** Four-character text of a platform code. */
export function platformName(code: number): string {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(code);
  return b.toString('latin1').replace(/\0/g, ' ').trimEnd();
}

/**
 * Room reserved for a locator, in bytes. The spec says Platform Data Space is
 * in sectors; Windows writes it in bytes. A value of 512 or more that is a
 * multiple of 512 is taken as bytes, anything else as sectors (libvhdi and
 * vhd-util make the same guess).
 */
export function locatorSpaceBytes(space: number): number {
  return space >= SECTOR && space % SECTOR === 0 ? space : space * SECTOR;
}

/** The entries in use, with their payload ranges checked against the file size. */
export function locatorsInUse(entries: LocatorEntry[], fileSize: number): DecodedLocator[] {
  const out: DecodedLocator[] = [];
  for (const e of entries) {
    if (e.platformCode === PlatformCode.none) continue;
    const beyond = e.platformDataOffset > BigInt(fileSize);
    const offset = beyond ? fileSize : u64ToNumber(e.platformDataOffset, 'parent locator data offset');
    const loc: DecodedLocator = { code: platformName(e.platformCode), offset, length: e.platformDataLength, space: locatorSpaceBytes(e.platformDataSpace) };
    if (beyond) loc.error = `data offset ${e.platformDataOffset} lies past the end of the file (${fileSize})`;
    else if (e.platformDataLength > VHD_MAX_LOCATOR_BYTES) loc.error = `length ${e.platformDataLength} exceeds ${VHD_MAX_LOCATOR_BYTES} (${limitNote('VHD_MAX_LOCATOR_BYTES', VHD_MAX_LOCATOR_BYTES)})`;
    else if (offset + e.platformDataLength > fileSize) loc.error = `data at ${offset}+${e.platformDataLength} lies past the end of the file (${fileSize})`;
    out.push(loc);
  }
  return out;
}

/** Decodes a locator payload into a path; sets `error` instead of throwing for undecodable data. */
export function decodeLocatorPath(loc: DecodedLocator, data: Uint8Array): void {
  const text = (() => {
    switch (loc.code) {
      case 'W2ru':
      case 'W2ku':
        return decodeUtf16le(data);
      case 'MacX':
        return decodeFileUrl(data);
      case 'Wi2r':
      case 'Wi2k':
        return Buffer.from(data).toString('latin1');
      default:
        throw new DiskImageError('UNSUPPORTED', `platform code ${loc.code} is not a path vdisk can read`);
    }
  })();
  const path = text.replace(/\0+$/, '');
  if (path === '' || path.includes('\0')) throw new DiskImageError('CORRUPT', `${loc.code} locator holds no usable path`);
  loc.path = path;
}

/** The locators and the header's parent name as candidates for the chain layer, in resolution order. */
export function parentCandidates(locators: DecodedLocator[], parentName: string): ParentCandidate[] {
  const order = ['W2ru', 'MacX', 'Wi2r', 'W2ku', 'Wi2k'];
  const out: ParentCandidate[] = [];
  for (const code of order) {
    for (const l of locators) if (l.code === code && l.path) out.push({ source: `${code} locator`, path: l.path });
  }
  if (parentName) out.push({ source: 'header parent name', path: parentName, nameOnly: true });
  return out;
}

function decodeUtf16le(data: Uint8Array): string {
  if (data.length % 2 !== 0) throw new DiskImageError('CORRUPT', `UTF-16 path has an odd byte length (${data.length})`);
  const text = Buffer.from(data).toString('utf16le');
  if (!text.isWellFormed()) throw new DiskImageError('CORRUPT', 'UTF-16 path holds unpaired surrogates');
  return text;
}

function decodeFileUrl(data: Uint8Array): string {
  const text = new TextDecoder('utf-8', { fatal: false }).decode(data).replace(/\0+$/, '');
  if (!text.startsWith('file://')) throw new DiskImageError('CORRUPT', `MacX locator '${text.slice(0, 64)}' is not a file:// URL`);
  try {
    return decodeURIComponent(text.slice('file://'.length));
  } catch {
    return text.slice('file://'.length);
  }
}

/** Encodes a path for a W2ru/W2ku locator (UTF-16LE). */
export function encodeUtf16lePath(path: string): Uint8Array {
  return new Uint8Array(Buffer.from(path, 'utf16le'));
}

/** Encodes a path for a MacX locator (file URL, UTF-8). */
export function encodeFileUrl(path: string): Uint8Array {
  return new Uint8Array(Buffer.from(`file://${encodeURI(path)}`, 'utf8'));
}
