import type { Finding } from '../formats/types.js';

/**
 * How `vdisk check` sums up findings, apart from ops/check.ts (which opens
 * local files) so the browser build reports the same result and codes.
 */

/** Error codes that mean the image itself is broken (the check found corruption) rather than unreadable. */
export const CORRUPTION_CODES = new Set(['CORRUPT', 'OUT_OF_RANGE', 'INVALID_FORMAT']);

/** The result the worst finding gives: corruption, then leaks, then nonconformance; clean without findings. */
export function resultOf(findings: Finding[]): 'clean' | 'corruption' | 'leaks' | 'nonconformant' {
  if (findings.some((f) => f.severity === 'corruption')) return 'corruption';
  if (findings.some((f) => f.severity === 'leak')) return 'leaks';
  if (findings.some((f) => f.severity === 'nonconformance')) return 'nonconformant';
  return 'clean';
}
