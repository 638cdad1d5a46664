import { DiskImageError } from '../../errors.js';
import type { ParentCandidate } from '../layer.js';
import { uuidEqual } from '../../util/uuid.js';
import { VHDX_LOCATOR_TYPE } from './constants.js';
import { limitNote, VHDX_MAX_LOCATOR_ENTRIES } from '../../limits.js';


/** Decodes the parent locator metadata item (2.6.2.6): a locator type and UTF-16LE key/value pairs. */
export function decodeParentLocator(buf: Uint8Array): Map<string, string> {
  if (buf.length < 20) throw new DiskImageError('CORRUPT', `VHDX parent locator is ${buf.length} bytes, too short`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.length);
  if (!uuidEqual(buf.subarray(0, 16), VHDX_LOCATOR_TYPE)) throw new DiskImageError('UNSUPPORTED', 'VHDX parent locator is not of the VHDX type');
  const count = view.getUint16(18, true);
  if (count > VHDX_MAX_LOCATOR_ENTRIES || 20 + count * 12 > buf.length) {
    throw new DiskImageError('CORRUPT', `VHDX parent locator claims ${count} entries, more than its ${buf.length} bytes hold or more than ${VHDX_MAX_LOCATOR_ENTRIES} (${limitNote('VHDX_MAX_LOCATOR_ENTRIES', VHDX_MAX_LOCATOR_ENTRIES)})`, { value: count });
  }
  const out = new Map<string, string>();
  const text = (off: number, len: number, what: string): string => {
    if (off + len > buf.length || len % 2 !== 0) throw new DiskImageError('CORRUPT', `VHDX parent locator ${what} at ${off}+${len} lies outside the item or is not UTF-16`, { offset: off });
    const s = Buffer.from(buf.buffer, buf.byteOffset + off, len).toString('utf16le');
    if (!s.isWellFormed()) throw new DiskImageError('CORRUPT', `VHDX parent locator ${what} holds unpaired surrogates`);
    return s;
  };
  for (let i = 0; i < count; i++) {
    const at = 20 + i * 12;
    const key = text(view.getUint32(at, true), view.getUint16(at + 8, true), 'key');
    out.set(key, text(view.getUint32(at + 4, true), view.getUint16(at + 10, true), `value of ${key}`));
  }
  return out;
}

/** Encodes a parent locator item from key/value pairs. */
export function encodeParentLocator(entries: [string, string][]): Uint8Array {
  const strings = entries.flatMap(([k, v]) => [Buffer.from(k, 'utf16le'), Buffer.from(v, 'utf16le')]);
  let pos = 20 + entries.length * 12;
  const size = pos + strings.reduce((n, s) => n + s.length, 0);
  const buf = new Uint8Array(size);
  const view = new DataView(buf.buffer);
  buf.set(VHDX_LOCATOR_TYPE, 0);
  view.setUint16(18, entries.length, true);
  entries.forEach((_, i) => {
    const [k, v] = [strings[2 * i]!, strings[2 * i + 1]!];
    const at = 20 + i * 12;
    view.setUint32(at, pos, true);
    buf.set(k, pos);
    pos += k.length;
    view.setUint32(at + 4, pos, true);
    buf.set(v, pos);
    pos += v.length;
    view.setUint16(at + 8, k.length, true);
    view.setUint16(at + 10, v.length, true);
  });
  return buf;
}

/** Candidates in the order the spec suggests (2.6.2.6.1): relative_path, volume_path, absolute_win32_path. */
export function vhdxParentCandidates(locator: Map<string, string>): ParentCandidate[] {
  const out: ParentCandidate[] = [];
  for (const key of ['relative_path', 'volume_path', 'absolute_win32_path']) {
    const v = locator.get(key);
    if (v) out.push({ source: key, path: v });
  }
  return out;
}
