import { DiskImageError } from '../errors.js';
import { formats } from '../formats/registry.js';
import type { TargetOutput, TargetProfile } from './profiles.js';

/** The output convert writes for `profile`: the first of its outputs whose format vdisk can write. */
export function profileOutput(profile: TargetProfile): TargetOutput {
  const writable = new Set(formats().filter((f) => f.create).map((f) => f.name));
  const out = profile.outputs.find((o) => writable.has(o.format));
  if (!out) throw new DiskImageError('UNSUPPORTED', `--target ${profile.name}: vdisk writes none of ${profile.outputs.map((o) => o.format).join(', ')}`);
  return out;
}
