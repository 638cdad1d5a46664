import { DiskImageError } from '../errors.js';
import { PROFILES, profileByName, type TargetOutput, type TargetProfile } from './profiles.js';

/**
 * The first of `profile`'s outputs whose format `canWrite` accepts (the
 * formats the caller can write: vdisk's in Node, the page's in a browser);
 * UNSUPPORTED, naming `writer`, when there is none. Node-free, so that the
 * CLI and the page resolve a profile alike.
 */
export function firstOutput(profile: TargetProfile, canWrite: (format: string) => boolean, writer: string): TargetOutput {
  const out = profile.outputs.find((o) => canWrite(o.format));
  if (!out) throw new DiskImageError('UNSUPPORTED', `--target ${profile.name}: ${writer} writes none of ${profile.outputs.map((o) => o.format).join(', ')}`);
  return out;
}

/** The profile named `name`; USAGE, listing the known ones, when there is none. */
export function profileNamed(name: string): TargetProfile {
  const p = profileByName(name);
  if (!p) throw new DiskImageError('USAGE', `unknown target '${name}' (known: ${PROFILES.map((x) => x.name).join(', ')})`);
  return p;
}
