import { copyImage, type ProgressFn } from '../engine/copy.js';
import { createImage, detectFormat, openImage } from '../formats/registry.js';
import type { DiskImage, OpenOptions, WritableDiskImage } from '../formats/types.js';
import { checkOutputPath, commitOutput, discardOutput, refuseInputPath, tempPathFor } from './output-file.js';
import { DiskImageError } from '../errors.js';
import { PROFILES, profileByName } from '../targets/profiles.js';

/** Options of `vdisk convert`. */
export interface ConvertOptions extends OpenOptions {
  /** Source format (probed when absent). */
  format?: string;
  /** Output format (`-O`; optional with `target`). */
  outputFormat?: string;
  /** `-o` options for the output. */
  options?: Record<string, string>;
  /** Give the output the source's UUID (`--keep-uuid`) instead of a new one. */
  keepUuid?: boolean;
  /** Hypervisor profile (`--target`): picks format and options, rounds the size up (docs/targets.md). */
  target?: string;
  /** `-n`: write into the existing image or block device DST (its own format) instead of creating it. */
  existing?: boolean;
  onProgress?: ProgressFn;
  signal?: AbortSignal;
}

/** Format, options and size rounding of a conversion, from `-O`/`-o` and `--target`. */
function targetPlan(opts: ConvertOptions): { format: string; options: Record<string, string>; sizeMultiple: number } {
  if (!opts.target) {
    if (!opts.outputFormat) throw new DiskImageError('USAGE', 'convert needs -O FORMAT or --target PROFILE');
    return { format: opts.outputFormat, options: opts.options ?? {}, sizeMultiple: 1 };
  }
  const p = profileByName(opts.target);
  if (!p) throw new DiskImageError('USAGE', `unknown target '${opts.target}' (known: ${PROFILES.map((x) => x.name).join(', ')})`);
  if (opts.outputFormat && opts.outputFormat !== p.format) {
    throw new DiskImageError('USAGE', `--target ${p.name} writes ${p.format}, not ${opts.outputFormat} (leave out -O)`);
  }
  for (const [k, v] of Object.entries(opts.options ?? {})) {
    if (p.options[k] !== undefined && p.options[k] !== v) throw new DiskImageError('USAGE', `--target ${p.name} needs ${k}=${p.options[k]}, not ${v}`);
  }
  return { format: p.format, options: { ...p.options, ...opts.options }, sizeMultiple: p.sizeMultiple };
}

/** What a conversion did. */
export interface ConvertResult {
  virtualSize: number;
  dataBytes: number;
  writtenBytes: number;
}

/**
 * Converts SRC (any readable format, its whole chain) to a new DST: writes
 * to a temporary name beside DST, flushes, renames on success, and removes the
 * partial file on any failure or interrupt.
 */
export async function convert(src: string, dst: string, opts: ConvertOptions): Promise<ConvertResult> {
  if (opts.existing) return convertIntoExisting(src, dst, opts);
  const plan = targetPlan(opts);
  const source = await openImage(src, { ...opts, writable: false });
  let target: WritableDiskImage | undefined;
  let temp: string | undefined;
  try {
    checkOutputPath(dst, [source]);
    temp = tempPathFor(dst);
    const virtualSize = Math.ceil(source.virtualSize / plan.sizeMultiple) * plan.sizeMultiple;
    const uuid = opts.keepUuid ? source.describe().uuid : undefined;
    if (opts.keepUuid && !uuid) throw new DiskImageError('USAGE', `--keep-uuid: ${src} (${source.format}) has no UUID to keep`);
    target = await createImage(temp, plan.format, { virtualSize, options: plan.options, uuid });
    const stats = await copyImage(source, target, { onProgress: opts.onProgress, signal: opts.signal });
    await target.flush();
    await target.close();
    target = undefined;
    await commitOutput(temp, dst);
    temp = undefined;
    return { virtualSize, ...stats };
  } finally {
    await target?.close();
    if (temp) await discardOutput(temp);
    await source.close();
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
  if (opts.target || opts.keepUuid || Object.keys(opts.options ?? {}).length > 0) {
    throw new DiskImageError('USAGE', '-n writes into DST as it is: --target, --keep-uuid and -o do not apply');
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
