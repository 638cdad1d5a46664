import { statSync } from 'node:fs';
import { isUrl } from '../io/http-source.js';
import { DiskImageError } from '../errors.js';
import type { DiskImage } from '../formats/types.js';
import { PROFILES, profileByName, profileOutput } from './profiles.js';

/** One rule of a profile applied to an image. */
export interface RuleResult {
  id: string;
  text: string;
  source: string;
  ok: boolean;
  /** Why the image fails the rule. */
  detail?: string;
}

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
  const rules = profile.rules.map((r): RuleResult => {
    const detail = r.violation({ info });
    return { id: r.id, text: r.text, source: r.source, ok: detail === undefined, ...(detail !== undefined && { detail }) };
  });
  const { note } = profileOutput(profile);
  return { profile: profile.name, ...(note && { note }), ok: rules.every((r) => r.ok), rules };
}
