import { requireLocal } from '../io/open-source.js';
import { DiskImageError } from '../errors.js';
import { detectFormat, formatByName, openImage } from '../formats/registry.js';
import type { Finding, OpenOptions } from '../formats/types.js';
import { checkTarget, type TargetReport } from '../targets/check-target.js';
import { CORRUPTION_CODES, resultOf } from './check-result.js';

/** The outcome of `vdisk check`; `result` maps to the exit code (0, 2, 3, 1). */
export interface CheckReport {
  filename: string;
  format?: string;
  result: 'clean' | 'corruption' | 'leaks' | 'nonconformant' | 'error';
  findings: Finding[];
  /** What `--repair` changed. */
  repaired: string[];
  /** Why the check could not run (result 'error'). */
  error?: string;
  /** With `--target`: every rule of the profile and whether the image meets it. */
  target?: TargetReport;
}

async function findingsOf(path: string, opts: OpenOptions & { format?: string; target?: string }, report: CheckReport): Promise<Finding[]> {
  const image = await openImage(path, { ...opts, writable: false });
  try {
    const findings = await image.check();
    if (opts.target) {
      report.target = checkTarget(image, opts.target);
      for (const r of report.target.rules) {
        if (!r.ok) findings.push({ severity: 'nonconformance', code: `TARGET_${r.id.toUpperCase().replace(/-/g, '_')}`, message: `${opts.target}: ${r.text}: ${r.detail}` });
      }
    }
    return findings;
  } finally {
    await image.close();
  }
}

/**
 * Checks one image's structure (not its parents'). A structure too broken to
 * open is reported as corruption; an I/O or parent problem as 'error'. With
 * `repair`, fixes what the format can fix without guessing, then checks again.
 */
export async function check(path: string, opts: OpenOptions & { format?: string; repair?: boolean; target?: string } = {}): Promise<CheckReport> {
  const report: CheckReport = { filename: path, result: 'clean', findings: [], repaired: [] };
  try {
    report.format = opts.format ?? (await detectFormat(path));
    const format = formatByName(report.format);
    if (opts.repair) {
      requireLocal(path, 'check --repair');
      if (!format.repair) throw new DiskImageError('UNSUPPORTED', `check --repair is not supported for ${report.format}`);
      report.repaired = await format.repair(path, opts.openFile);
    }
    report.findings = await findingsOf(path, { ...opts, format: report.format }, report);
    report.result = resultOf(report.findings);
  } catch (err) {
    if (!(err instanceof DiskImageError)) throw err;
    if (CORRUPTION_CODES.has(err.code)) {
      report.findings.push({ severity: 'corruption', code: err.code, message: err.message });
      report.result = 'corruption';
    } else {
      report.result = 'error';
      report.error = `${err.message} (${err.code})`;
    }
  }
  return report;
}
