import type { Command } from 'commander';
import { backupGc } from '../backup/gc.js';
import { backupPrune } from '../backup/prune.js';
import type { KeepPolicy } from '../backup/prune-policy.js';
import { backupVerify, type VerifyResult } from '../backup/verify.js';
import { DiskImageError } from '../errors.js';
import { withEndpoint } from './backup-options.js';
import { progressBar } from './progress.js';
import { printJson, warn } from './report.js';

/** Milliseconds per unit of a duration option. */
const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** Parses a duration such as `24h`, `30m`, `7d` or `0`; USAGE otherwise. */
export function parseDuration(text: string, option: string): number {
  const m = /^(\d+(?:\.\d+)?)([smhdw]?)$/.exec(text.trim());
  if (!m || (m[2] === '' && Number(m[1]) !== 0)) throw new DiskImageError('USAGE', `${option} takes a duration such as 24h, 30m, 7d or 0, not '${text}'`);
  return Number(m[1]) * (UNIT_MS[m[2]!] ?? 0);
}

/** Parses a share such as `10%` or `0.1` into (0, 1]; USAGE otherwise. */
export function parseShare(text: string, option: string): number {
  const m = /^(\d+(?:\.\d+)?)(%?)$/.exec(text.trim());
  const share = m ? Number(m[1]) / (m[2] ? 100 : 1) : NaN;
  if (!(share > 0 && share <= 1)) throw new DiskImageError('USAGE', `${option} takes a share such as 10% or 0.1 (more than 0, at most 100%), not '${text}'`);
  return share;
}

/** Parses a --keep-* count. */
function parseCount(text: string): number {
  if (!/^\d{1,9}$/.test(text)) throw new DiskImageError('USAGE', `a --keep-* rule takes a whole number, not '${text}'`);
  return Number(text);
}

/** The text report of verify: one line per damaged object, then a summary. */
function verifyText(r: VerifyResult): string {
  const lines = r.damage.map((d) => `damaged: ${d.object}: ${d.problem} (breaks ${d.snapshots.join(', ')})`);
  const what = r.checked === r.chunks ? `all ${r.chunks} chunks` : `${r.checked} of ${r.chunks} chunks (a random sample)`;
  lines.push(r.broken.length === 0 ? `Verified ${what} of ${r.snapshots} snapshots: no damage.` : `Verified ${what} of ${r.snapshots} snapshots: ${r.broken.length} snapshot(s) broken: ${r.broken.join(', ')}.`);
  return lines.join('\n');
}

/** Adds `vdisk backup verify|prune|gc` (docs/backup.md) to the `backup` command. */
export function addBackupMaintenance(backup: Command, signal: AbortSignal): void {
  withEndpoint(backup.command('verify'))
    .description('re-read and re-hash the chunks of every snapshot; name the snapshots damage breaks (exit 0 clean, 2 damage, 1 could not verify)')
    .argument('<repo>')
    .option('--sample <share>', 'check a random share of the chunks, e.g. 10%')
    .option('--json', 'machine-readable output')
    .option('-p, --progress', 'a progress bar on a terminal')
    .action(async (repo: string, o: { sample?: string; json?: boolean; progress?: boolean; endpoint?: string }) => {
      const bar = progressBar(o.progress);
      const r = await backupVerify(repo, { store: { endpoint: o.endpoint }, sample: o.sample === undefined ? 1 : parseShare(o.sample, '--sample'), signal, onProgress: bar.update }).finally(() => bar.stop());
      if (o.json) printJson(r);
      else console.log(verifyText(r));
      process.exitCode = r.damage.length === 0 ? 0 : 2;
    });

  withEndpoint(backup.command('prune'))
    .description('remove the snapshots no --keep-* rule keeps, each name on its own (their chunks go at the next gc)')
    .argument('<repo>')
    .option('--keep-last <n>', 'the n newest', parseCount)
    .option('--keep-hourly <n>', 'the newest of each of the n most recent hours with snapshots', parseCount)
    .option('--keep-daily <n>', 'the same for days', parseCount)
    .option('--keep-weekly <n>', 'the same for ISO weeks', parseCount)
    .option('--keep-monthly <n>', 'the same for months', parseCount)
    .option('--keep-yearly <n>', 'the same for years', parseCount)
    .option('--name <name>', 'prune only the snapshots of this name')
    .option('-n, --dry-run', 'show what would be removed, remove nothing')
    .option('--json', 'machine-readable output')
    .action(async (repo: string, o: Record<string, string | number | boolean | undefined>) => {
      const policy: KeepPolicy = { last: o.keepLast as number, hourly: o.keepHourly as number, daily: o.keepDaily as number, weekly: o.keepWeekly as number, monthly: o.keepMonthly as number, yearly: o.keepYearly as number };
      const r = await backupPrune(repo, policy, { store: { endpoint: o.endpoint as string | undefined }, name: o.name as string | undefined, dryRun: Boolean(o.dryRun) });
      if (o.json) printJson(r);
      else {
        for (const m of r.removed) console.log(`${o.dryRun ? 'would remove' : 'removed'} ${m.id} (${m.name}, ${m.createdAt})`);
        console.log(`${r.kept.length} snapshot(s) kept, ${r.removed.length} ${o.dryRun ? 'would be ' : ''}removed.${r.removed.length > 0 && !o.dryRun ? ' Run vdisk backup gc to free their chunks.' : ''}`);
      }
    });

  withEndpoint(backup.command('gc'))
    .description('delete chunks and indexes no snapshot uses (waits for running backups; safe while they run)')
    .argument('<repo>')
    .option('--grace <duration>', 'never delete what is younger than this', '24h')
    .option('-n, --dry-run', 'count what would be deleted, delete nothing')
    .option('--json', 'machine-readable output')
    .action(async (repo: string, o: { grace: string; dryRun?: boolean; json?: boolean; endpoint?: string }) => {
      const onWait = (holders: string[]) => warn(`waiting for running backup(s) ${holders.join(', ')} to finish`);
      const r = await backupGc(repo, { store: { endpoint: o.endpoint }, graceMs: parseDuration(o.grace, '--grace'), dryRun: o.dryRun, signal, onWait });
      if (o.json) printJson(r);
      else console.log(`${o.dryRun ? 'Would delete' : 'Deleted'} ${r.deleted} unused objects (${r.deletedBytes} bytes); ${r.kept} in use; ${r.young} unused but younger than ${o.grace}; ${r.leftovers} leftovers of dead runs removed.`);
    });
}
