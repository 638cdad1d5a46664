import { DiskImageError } from '../errors.js';
import type { DiskImage } from '../formats/types.js';
import { PROFILES, profileByName } from '../targets/profiles.js';

/** What the user asked of a conversion's output: `-O`, `-o`, `--target`, `--keep-uuid`. */
export interface OutputRequest {
  outputFormat?: string;
  options?: Record<string, string>;
  /** Hypervisor profile: picks format and options, rounds the size up (docs/targets.md). */
  target?: string;
  /** Give the output the source's UUID instead of a new one. */
  keepUuid?: boolean;
}

/** The output a conversion writes: format, options, virtual size, and the UUID to keep (undefined: a new one). */
export interface OutputPlan {
  format: string;
  options: Record<string, string>;
  virtualSize: number;
  uuid?: string;
}

/**
 * Resolves `-O`/`-o` and `--target` against each other (a profile fixes the
 * format and some options; contradicting them is a USAGE error), rounds the
 * source's size up to the profile's unit, and takes the source's UUID for
 * `--keep-uuid` (USAGE when it has none). Used by file and pipe outputs alike.
 */
export function outputPlan(srcPath: string, source: DiskImage, req: OutputRequest): OutputPlan {
  let format = req.outputFormat;
  let options = req.options ?? {};
  let sizeMultiple = 1;
  if (req.target) {
    const p = profileByName(req.target);
    if (!p) throw new DiskImageError('USAGE', `unknown target '${req.target}' (known: ${PROFILES.map((x) => x.name).join(', ')})`);
    if (format && format !== p.format) throw new DiskImageError('USAGE', `--target ${p.name} writes ${p.format}, not ${format} (leave out -O)`);
    for (const [k, v] of Object.entries(options)) {
      if (p.options[k] !== undefined && p.options[k] !== v) throw new DiskImageError('USAGE', `--target ${p.name} needs ${k}=${p.options[k]}, not ${v}`);
    }
    format = p.format;
    options = { ...p.options, ...options };
    sizeMultiple = p.sizeMultiple;
  }
  if (!format) throw new DiskImageError('USAGE', 'convert needs -O FORMAT or --target PROFILE');
  const uuid = req.keepUuid ? source.describe().uuid : undefined;
  if (req.keepUuid && !uuid) throw new DiskImageError('USAGE', `--keep-uuid: ${srcPath} (${source.format}) has no UUID to keep`);
  return { format, options, virtualSize: Math.ceil(source.virtualSize / sizeMultiple) * sizeMultiple, uuid };
}
