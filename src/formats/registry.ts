import { realpathSync } from 'node:fs';
import { DiskImageError } from '../errors.js';
import { openDiskFile } from '../io/file.js';
import { rawFormat } from './raw/index.js';
import type { ChainContext, CreateOptions, DiskImage, FormatDescriptor, FormatName, OpenOptions, WritableDiskImage } from './types.js';
import { vhdFormat } from './vhd/index.js';
import { vhdxFormat } from './vhdx/index.js';

/** Formats vdisk reads and writes, in probe order (raw, which matches anything, last). */
const FORMATS: FormatDescriptor[] = [vhdxFormat, vhdFormat, rawFormat];

/**
 * Formats vdisk recognises but does not handle yet, by their magic (qcow2
 * "QFI\xfb" qcow2.txt; VMDK "KDMV" sparse header or a text descriptor; VDI
 * signature 0xbeda107f at offset 64). Recognising them keeps such a file from
 * being read as raw.
 */
const RECOGNISED: { name: FormatName; test: (head: Buffer) => boolean }[] = [
  { name: 'qcow2', test: (h) => h.readUInt32BE(0) === 0x514649fb },
  { name: 'vmdk', test: (h) => h.toString('latin1', 0, 4) === 'KDMV' || h.toString('latin1', 0, 21) === '# Disk DescriptorFile' },
  { name: 'vdi', test: (h) => h.length >= 68 && h.readUInt32LE(64) === 0xbeda107f },
];

/** The descriptor of a format vdisk handles, or a USAGE/UNSUPPORTED error. */
export function formatByName(name: string): FormatDescriptor {
  const f = FORMATS.find((x) => x.name === name);
  if (f) return f;
  if (RECOGNISED.some((r) => r.name === name)) throw new DiskImageError('UNSUPPORTED', `format ${name} is not supported yet`, { format: name });
  throw new DiskImageError('USAGE', `unknown format '${name}' (known: ${FORMATS.map((x) => x.name).join(', ')})`, { format: name });
}

/** Probes a file's format from its first 4 KiB and last 512 bytes. */
export async function detectFormat(path: string): Promise<FormatName> {
  const file = await openDiskFile(path, 'read');
  try {
    const head = Buffer.alloc(Math.min(4096, file.size));
    await file.read(head, 0);
    const tail = Buffer.alloc(Math.min(512, file.size));
    await file.read(tail, file.size - tail.length);
    const known = RECOGNISED.find((r) => head.length >= 8 && r.test(head));
    if (known) return known.name;
    return FORMATS.find((f) => f.probe(head, tail, file.size))!.name;
  } finally {
    await file.close();
  }
}

async function openAt(path: string, options: OpenOptions & { format?: string }, depth: number, visited: Set<string>): Promise<DiskImage> {
  const name = options.format ?? (await detectFormat(path));
  const format = formatByName(name);
  if (!format.open) throw new DiskImageError('UNSUPPORTED', `reading ${name} is not supported yet`);
  const chain: ChainContext = {
    depth,
    visited,
    openParent: (parentPath) => {
      visited.add(parentPath);
      const writable = options.writableParents?.includes(parentPath) === true;
      return openAt(parentPath, { ...options, format: undefined, writable }, depth + 1, visited);
    },
  };
  return format.open(path, options, chain);
}

/** Opens an image (format probed unless given), with its whole parent chain. */
export async function openImage(path: string, options: OpenOptions & { format?: string } = {}): Promise<DiskImage> {
  let real: string;
  try {
    real = realpathSync(path);
  } catch {
    throw new DiskImageError('IO', `cannot open ${path}: no such file`, { path });
  }
  return openAt(path, options, 0, new Set([real]));
}

/** Creates a new image of `format` at `path` (which must not exist). */
export async function createImage(path: string, format: string, options: CreateOptions): Promise<WritableDiskImage> {
  const f = formatByName(format);
  if (!f.create) throw new DiskImageError('UNSUPPORTED', `writing ${format} is not supported yet`);
  const unknown = Object.keys(options.options).filter((k) => !f.createOptions?.includes(k));
  if (unknown.length) throw new DiskImageError('USAGE', `${format} does not take option(s) ${unknown.join(', ')} (accepted: ${f.createOptions?.join(', ') || 'none'})`);
  return f.create(path, options);
}
