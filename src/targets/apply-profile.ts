import type { ImageInfo } from '../formats/types.js';
import type { TargetProfile } from './profiles.js';

/** One rule of a profile applied to an image. */
export interface RuleResult {
  id: string;
  text: string;
  source: string;
  ok: boolean;
  /** Why the image fails the rule. */
  detail?: string;
}

/**
 * Every rule of `profile` applied to an image's description, in the
 * profile's order. Pure: check-target.ts (the CLI, which takes the file size
 * from the file system) and the browser build (which takes it from the Blob)
 * both apply profiles through this.
 */
export function applyProfile(profile: TargetProfile, info: ImageInfo): RuleResult[] {
  return profile.rules.map((r): RuleResult => {
    const detail = r.violation({ info });
    return { id: r.id, text: r.text, source: r.source, ok: detail === undefined, ...(detail !== undefined && { detail }) };
  });
}
