import { statSync } from 'node:fs';
import { isUrl } from '../io/http-source.js';
import { DiskImageError } from '../errors.js';
import type { DiskImage } from '../formats/types.js';
import { applyProfile, type RuleResult } from './apply-profile.js';
import { profileOutput } from './profile-output.js';
import { PROFILES, profileByName } from './profiles.js';

export type { RuleResult } from './apply-profile.js';

/** A profile applied to an image, rule by rule (`vdisk check --target`). */
export interface TargetReport {
  profile: string;
  note?: string;
  ok: boolean;
  rules: RuleResult[];
}

/** Applies every rule of profile `name` to an opened image. */
export function checkTarget(image: DiskImage, name: string): TargetReport {
  const profile = profileByName(name);
  if (!profile) throw new DiskImageError('USAGE', `unknown target '${name}' (known: ${PROFILES.map((p) => p.name).join(', ')})`);
  const described = image.describe();
  const info = { ...described, fileSize: isUrl(image.path) ? described.fileSize : statSync(image.path).size };
  const rules = applyProfile(profile, info);
  const { note } = profileOutput(profile);
  return { profile: profile.name, ...(note && { note }), ok: rules.every((r) => r.ok), rules };
}
