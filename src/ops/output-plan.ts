import { DiskImageError } from '../errors.js';
import { formatByName, formats } from '../formats/registry.js';
import type { DiskImage } from '../formats/types.js';
import { roundUp } from '../util/checked.js';
import { profileNamed } from '../targets/profile-outputs.js';
import { profileOutput } from '../targets/profile-output.js';

/** What the user asked of a conversion's output: `-O`, `-o`, `--target`, `--keep-uuid`. */
export interface OutputRequest {
  outputFormat?: string;
  options?: Record<string, string>;
  /** Hypervisor profile: picks format and options, rounds the size up (docs/targets.md). */
  target?: string;
  /** Give the output the source's UUID instead of a new one. */
  keepUuid?: boolean;
  /** `-c`: compress the output's data (the format's compressOptions). */
  compress?: boolean;
}

/** The output a conversion writes: format, options, virtual size, and the UUID to keep (undefined: a new one). */
export interface OutputPlan {
  format: string;
  options: Record<string, string>;
  virtualSize: number;
  uuid?: string;
}

/** A resolved output: format, options, and the profile's size unit (1 without one) and largest size. */
interface ResolvedOutput {
  format: string;
  options: Record<string, string>;
  sizeMultiple: number;
  maxSize?: number;
}

/**
 * Resolves `-O`/`-o` and `--target` against each other: a profile fixes the
 * format and some options, and contradicting them is a USAGE error, as is
 * naming neither a format nor a profile; then `-c` adds the format's
 * compressOptions.
 */
export function resolveOutput(req: OutputRequest): ResolvedOutput {
  const out = profileOrFormat(req);
  return { ...out, options: withCompression(out.format, out.options, req.compress) };
}

/** `-c`: the output's options with the format's compressOptions added; USAGE when the format has none or an option contradicts them. */
function withCompression(format: string, options: Record<string, string>, compress: boolean | undefined): Record<string, string> {
  if (!compress) return options;
  const extra = formatByName(format).compressOptions;
  if (!extra) throw new DiskImageError('USAGE', `-c: ${format} cannot hold compressed data (${formats().filter((f) => f.compressOptions).map((f) => f.name).join(' and ')} can)`);
  for (const [k, v] of Object.entries(extra)) {
    if (options[k] !== undefined && options[k] !== v) throw new DiskImageError('USAGE', `-c writes ${format} with ${k}=${v}, not ${options[k]}`);
  }
  return { ...options, ...extra };
}

/** `-O`/`-o` or `--target`, checked against each other (resolveOutput before `-c`). */
function profileOrFormat(req: OutputRequest): ResolvedOutput {
  const options = req.options ?? {};
  if (!req.target) {
    if (!req.outputFormat) throw new DiskImageError('USAGE', 'convert needs -O FORMAT or --target PROFILE');
    return { format: req.outputFormat, options, sizeMultiple: 1 };
  }
  const p = profileNamed(req.target);
  const out = profileOutput(p);
  if (req.outputFormat && req.outputFormat !== out.format) throw new DiskImageError('USAGE', `--target ${p.name} writes ${out.format}, not ${req.outputFormat} (leave out -O)`);
  for (const [k, v] of Object.entries(options)) {
    if (out.options[k] !== undefined && out.options[k] !== v) throw new DiskImageError('USAGE', `--target ${p.name} needs ${k}=${out.options[k]}, not ${v}`);
  }
  return { format: out.format, options: { ...out.defaults, ...out.options, ...options }, sizeMultiple: p.sizeMultiple, maxSize: p.maxSize };
}

/**
 * The output of a conversion of `source`: resolveOutput, the source's size
 * rounded up to the profile's unit, and the source's UUID for `--keep-uuid`
 * (USAGE when it has none), the source's sector size carried over
 * (carrySectorSize), and the warnings the user should see before it is
 * written. Used by file and pipe outputs alike.
 */
export function outputPlan(srcPath: string, source: DiskImage, req: OutputRequest): OutputPlan & { warnings: string[] } {
  const { format, options, sizeMultiple, maxSize } = resolveOutput(req);
  const virtualSize = roundUp(source.virtualSize, sizeMultiple);
  if (maxSize !== undefined && virtualSize > maxSize) {
    throw new DiskImageError('OUT_OF_RANGE', `--target ${req.target}: ${srcPath} is ${virtualSize} bytes, more than the ${maxSize} bytes (${maxSize / 2 ** 30} GiB) the target takes; shrink the guest's partitions, then vdisk resize --shrink, and convert again`, { path: srcPath });
  }
  const info = source.describe();
  const uuid = req.keepUuid ? info.uuid : undefined;
  if (req.keepUuid && !uuid) throw new DiskImageError('USAGE', `--keep-uuid: ${srcPath} (${source.format}) has no UUID to keep`);
  const sectors = carrySectorSize(srcPath, info.logicalSectorSize ?? 512, format, options, req.target);
  return { format, options: sectors.options, virtualSize, uuid, warnings: sectors.warnings };
}

/**
 * The source's sector size, kept: a guest whose partition table and file
 * systems were laid out for 4096-byte sectors cannot read them through
 * 512-byte ones. An output format that records a sector size gets the
 * source's unless `-o` sets another (with a warning either way when it
 * differs from 512, as some readers refuse it); one that does not gets a
 * warning that the VM must be given the source's sector size.
 */
function carrySectorSize(srcPath: string, size: number, format: string, options: Record<string, string>, target: string | undefined): { options: Record<string, string>; warnings: string[] } {
  const option = formatByName(format).sectorSizeOption;
  if (option && options[option] !== undefined) {
    const asked = Number(options[option]);
    return { options, warnings: asked === size ? [] : [`${srcPath} has ${size}-byte sectors and the output ${asked}-byte ones (-o ${option}): the guest's partition table and file systems will not line up`] };
  }
  if (size === 512) return { options, warnings: [] };
  if (option) {
    const note = target ? ` (--target ${target} prefers 512; qemu and older guests refuse ${size}-byte sectors, and vdisk check --target ${target} says so)` : '';
    return { options: { ...options, [option]: String(size) }, warnings: [`${srcPath} has ${size}-byte sectors; the ${format} output keeps them${note}`] };
  }
  return { options, warnings: [`${srcPath} has ${size}-byte sectors, which ${format} cannot record: give the VM ${size}-byte logical sectors for this disk, or its partition table and file systems will not line up (or convert to a format that records them: ${formats().filter((f) => f.sectorSizeOption).map((f) => f.name).join(', ')})`] };
}
