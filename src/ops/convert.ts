import { copyImage, type CopyStats, type ProgressFn } from '../engine/copy.js';
import { createImage, detectFormat, formatByName, openImage } from '../formats/registry.js';
import type { DiskImage, OpenOptions, WritableDiskImage } from '../formats/types.js';
import { appendSink } from '../formats/sequential.js';
import { checkOutputPath, checkReplaceablePath, refuseInputPath, writeNewOutput, type NewOutput } from './output-file.js';
import { DiskImageError } from '../errors.js';
import { streamImage } from './stream.js';
import { outputPlan, type OutputPlan, type OutputRequest } from './output-plan.js';
import { convertOverBacking } from './convert-backing.js';

/** Options of `vdisk convert`: the output (`-O`, `-o`, `--target`, `--keep-uuid`) and how to open the source. */
export interface ConvertOptions extends OpenOptions, OutputRequest {
  /** Source format (probed when absent). */
  format?: string;
  /** `-n`: write into the existing image or block device DST (its own format) instead of creating it. */
  existing?: boolean;
  /** `--replace`: an existing regular file DST is replaced atomically (renamed over) on success. */
  replace?: boolean;
  /** `-B`: DST becomes a new child of this existing image, holding only what differs from it (convert-backing.ts). */
  backing?: string;
  onProgress?: ProgressFn;
  signal?: AbortSignal;
  /** How a new DST is written (`-t`): 'writeback' (default) through the page cache with writeback started at once and written pages dropped behind; 'none' bypasses the page cache where it can (O_DIRECT). */
  cache?: CacheMode;
}

/** Cache modes of the output, named as qemu-img's `-t`. */
export const CACHE_MODES = ['none', 'writeback'] as const;
/** One of CACHE_MODES. */
export type CacheMode = (typeof CACHE_MODES)[number];

/** What a conversion did. */
export interface ConvertResult {
  virtualSize: number;
  dataBytes: number;
  writtenBytes: number;
}

/**
 * Converts SRC (any readable format, its whole chain) to a new DST: writes
 * to a temporary name beside DST, flushes, renames on success, and removes the
 * partial file on any failure or interrupt. A size the output cannot hold
 * exactly (a sector, a `--target` unit) is rounded up, never down, and a
 * warning says so; the result's virtualSize is the output's.
 */
export async function convert(src: string, dst: string, opts: ConvertOptions): Promise<ConvertResult> {
  if (opts.backing !== undefined && opts.compress) throw new DiskImageError('USAGE', '-c and -B: a child over a backing file is written in place, so vdisk does not compress it');
  if (opts.backing !== undefined) return convertOverBacking(src, dst, { ...opts, backing: opts.backing });
  if (opts.existing) return convertIntoExisting(src, dst, opts);
  const source = await openImage(src, { ...opts, writable: false });
  try {
    return await convertImage(source, dst, opts);
  } finally {
    await source.close();
  }
}

/**
 * Writes the guest view of an opened image (any DiskImage: a chain, a
 * backup snapshot) to a new DST as convert does: a temporary name, flushed,
 * renamed on success, removed on failure; sizes rounded up with a warning.
 */
export async function convertImage(source: DiskImage, dst: string, opts: ConvertOptions): Promise<ConvertResult> {
  const { format, virtualSize, options, uuid, warnings } = outputPlan(source.path, source, opts);
  for (const w of warnings) opts.onWarning?.(w);
  if (opts.replace) await checkReplaceablePath(dst, [source]);
  else checkOutputPath(dst, [source]);
  const { stats, written } = await writeNewOutput(dst, opts.cache, async (out) => {
    if (formatByName(format).frontToBackOnly?.(options)) return { stats: await writeFrontToBack(source, { format, virtualSize, options, uuid }, out, dst, opts), written: undefined };
    out.image = await createImage(out.temp, format, { virtualSize, options, uuid, finalPath: dst, openFile: out.openFile });
    return { stats: await copyImage(source, out.image, { onProgress: opts.onProgress, signal: opts.signal }), written: out.image.virtualSize };
  });
  const size = written ?? (await sizeOf(dst, format));
  if (size !== source.virtualSize) opts.onWarning?.(`${dst}: ${format} cannot hold ${source.virtualSize} bytes exactly; the disk was rounded up to ${size} bytes (${size - source.virtualSize} more)`);
  return { virtualSize: size, ...stats };
}

/** The virtual size of the image just written at `path`. */
async function sizeOf(path: string, format: string): Promise<number> {
  const image = await openImage(path, { format });
  try {
    return image.virtualSize;
  } finally {
    await image.close();
  }
}

/**
 * Writes `source` to the new file `out.temp` through its format's
 * sequential writer (a format that can only be written front to back with
 * these options), fsyncs it, and returns the bytes of data handed over and
 * the file's size.
 */
async function writeFrontToBack(source: DiskImage, plan: OutputPlan, out: NewOutput, dst: string, opts: ConvertOptions): Promise<CopyStats> {
  const file = await out.openFile(out.temp, 'create');
  try {
    const dataBytes = await streamImage(source, plan, appendSink((buf, at) => file.write(buf, at)), opts.onProgress, dst);
    await file.sync();
    return { dataBytes, writtenBytes: file.size };
  } finally {
    await file.close();
  }
}

/**
 * `convert -n`: writes the guest view of SRC over the existing image or block
 * device DST in place, as `qemu-img convert -n` does. DST keeps its format
 * (`-O`, when given, must name it), size and identity; it must be at least
 * as large as SRC, and bytes past SRC's size stay as they are. Where SRC
 * reads as zeros DST is zeroed (holes of a raw file stay holes, other ranges
 * are zeroed with fallocate ZERO_RANGE where possible). A failure leaves DST
 * partly written (a warning says so): nothing can be rolled back.
 */
async function convertIntoExisting(src: string, dst: string, opts: ConvertOptions): Promise<ConvertResult> {
  if (opts.target || opts.keepUuid || opts.replace || opts.compress || Object.keys(opts.options ?? {}).length > 0) {
    throw new DiskImageError('USAGE', '-n writes into DST as it is: --target, --keep-uuid, --replace, -c and -o do not apply');
  }
  const source = await openImage(src, { ...opts, writable: false });
  let target: DiskImage | undefined;
  try {
    refuseInputPath(dst, [source]);
    const format = await detectFormat(dst);
    if (opts.outputFormat && opts.outputFormat !== format) {
      throw new DiskImageError('USAGE', `${dst} is a ${format} image, not ${opts.outputFormat}; -n writes into DST in its own format`, { path: dst });
    }
    target = await openImage(dst, { onWarning: opts.onWarning, openFile: opts.openFile, format, writable: true });
    if (target.virtualSize < source.virtualSize) {
      throw new DiskImageError('USAGE', `${dst} holds ${target.virtualSize} bytes, less than ${src} (${source.virtualSize})`, { path: dst });
    }
    const writable = target as WritableDiskImage;
    try {
      const stats = await copyImage(source, writable, { overwrite: true, onProgress: opts.onProgress, signal: opts.signal });
      await writable.flush();
      return { virtualSize: source.virtualSize, ...stats };
    } catch (err) {
      opts.onWarning?.(`${dst} was partly written`);
      throw err;
    }
  } finally {
    await target?.close();
    await source.close();
  }
}
