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

/**
 * Resolves `-O`/`-o` and `--target` against each other: a profile fixes the
 * format and some options, and contradicting them is a USAGE error, as is
 * naming neither a format nor a profile; then `-c` adds the format's
 * compressOptions. `sizeMultiple` is the profile's size unit (1 without one).
 */
export function resolveOutput(req: OutputRequest): { format: string; options: Record<string, string>; sizeMultiple: number } {
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
function profileOrFormat(req: OutputRequest): { format: string; options: Record<string, string>; sizeMultiple: number } {
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
  return { format: out.format, options: { ...out.defaults, ...out.options, ...options }, sizeMultiple: p.sizeMultiple };
}

/**
 * The output of a conversion of `source`: resolveOutput, the source's size
 * rounded up to the profile's unit, and the source's UUID for `--keep-uuid`
 * (USAGE when it has none). Used by file and pipe outputs alike.
 */
export function outputPlan(srcPath: string, source: DiskImage, req: OutputRequest): OutputPlan {
  const { format, options, sizeMultiple } = resolveOutput(req);
  const uuid = req.keepUuid ? source.describe().uuid : undefined;
  if (req.keepUuid && !uuid) throw new DiskImageError('USAGE', `--keep-uuid: ${srcPath} (${source.format}) has no UUID to keep`);
  return { format, options, virtualSize: roundUp(source.virtualSize, sizeMultiple), uuid };
}
