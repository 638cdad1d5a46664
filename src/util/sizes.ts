import { DiskImageError } from '../errors.js';

const UNITS: Record<string, number> = { '': 1, B: 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4, P: 1024 ** 5 };

/** Parses a size as qemu-img does: a byte count or a number with K, M, G, T or P (binary units). */
export function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([KMGTPB]?)(?:i?B)?$/i.exec(text.trim());
  if (!m) throw new DiskImageError('USAGE', `invalid size '${text}' (use e.g. 512, 10M, 4G, 2T)`, { value: text });
  const bytes = Math.round(Number(m[1]) * (UNITS[m[2]!.toUpperCase()] ?? 1));
  if (!Number.isSafeInteger(bytes)) throw new DiskImageError('OUT_OF_RANGE', `size '${text}' is too large`, { value: text });
  return bytes;
}

/** Formats bytes for people: "10 GiB", "1.5 MiB", "512 B". */
export function formatSize(bytes: number): string {
  const names = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < names.length - 1) {
    v /= 1024;
    i++;
  }
  const text = i === 0 || Number.isInteger(v) ? String(v) : v.toFixed(v < 10 ? 2 : 1);
  return `${text} ${names[i]}`;
}
