import { formats } from '../formats/registry.js';
import { firstOutput } from './profile-outputs.js';
import type { TargetOutput, TargetProfile } from './profiles.js';

/** The output convert writes for `profile`: the first of its outputs whose format vdisk can write. */
export function profileOutput(profile: TargetProfile): TargetOutput {
  const writable = new Set(formats().filter((f) => f.create).map((f) => f.name));
  return firstOutput(profile, (format) => writable.has(format), 'vdisk');
}
