import type { Command } from 'commander';
import { backupCreate } from '../backup/create.js';
import { restoreToFile, restoreToStream } from '../backup/restore.js';
import { initRepository, openRepository } from '../backup/repository.js';
import type { Manifest } from '../backup/manifest.js';
import { addBackupMaintenance } from './backup-maintenance-command.js';
import { addBackupServe } from './backup-serve-command.js';
import { withEndpoint } from './backup-options.js';
import { formatNames } from '../formats/registry.js';
import { cacheMode } from './convert-command.js';
import { openOptions, parseKeyValues, withOpenOptions, type RawOpenOptions } from './options.js';
import { progressBar } from './progress.js';
import { printJson, warn } from './report.js';

/** One line of `backup list`: ID, name, time, disk size, source format, chunks. */
function listLine(m: Manifest): string {
  const c = m.counts;
  return `${m.id}  ${m.name}  ${m.createdAt}  ${m.diskSize} bytes  ${m.sourceFormat}  ${c.total} chunks (${c.new} new, ${c.reused} reused, ${c.zero} zero)`;
}

/** Raw `-p` options. */
interface RawProgress {
  progress?: boolean;
  progressJson?: boolean;
}

/** Adds `-p` and `--progress-json` to a command. */
function withProgress(cmd: Command): Command {
  return cmd.option('-p, --progress', 'a progress bar on a terminal (--progress=json: JSON lines on stderr)').option('--progress-json', 'JSON progress lines on stderr (also --progress=json)');
}

/** Runs `work` with the progress display `o` asks for, stopped however it ends. */
async function withBar<T>(o: RawProgress, work: (update: ReturnType<typeof progressBar>['update']) => Promise<T>): Promise<T> {
  const bar = progressBar(o.progressJson ? 'json' : o.progress);
  try {
    return await work(bar.update);
  } finally {
    bar.stop();
  }
}

/** Raw options of `backup restore`. */
interface RawRestoreOptions extends RawProgress {
  endpoint?: string;
  outputFormat?: string;
  target?: string;
  options?: string;
  keepUuid?: boolean;
  compress?: boolean;
  replace?: boolean;
  cache?: string;
}

/** Adds `vdisk backup init|create|list|restore|serve|verify|prune|gc` (docs/backup.md): a repository of deduplicated snapshots in a directory or s3://BUCKET/PREFIX; `onSignalStop` makes SIGINT/SIGTERM a normal end of `serve`. */
export function addBackupCommand(program: Command, signal: AbortSignal, onSignalStop: () => void): void {
  const backup = program.command('backup').description('deduplicated, incremental backups of guest disks in a repository: a directory or s3://BUCKET/PREFIX (docs/backup.md)');

  withEndpoint(backup.command('init'))
    .description('make REPO a backup repository: a new or empty directory, or s3://BUCKET/PREFIX (the bucket created if missing, the prefix empty)')
    .argument('<repo>')
    .action(async (repo: string, o: { endpoint?: string }) => {
      await initRepository(repo, o);
      console.log(`Initialized backup repository ${repo}.`);
    });

  withEndpoint(withProgress(withOpenOptions(backup.command('create').description('back up the guest view of IMAGE (any format, its whole chain) as a new snapshot').argument('<repo>').argument('<image>'))))
    .option('--name <name>', "the snapshot's name; incremental against the newest of that name (default: the image's file name without extension)")
    .option('--full', 'read and hash every data chunk, even when the source files are unchanged since the last snapshot of the name')
    .action(async (repo: string, image: string, o: RawOpenOptions & RawProgress & { name?: string; endpoint?: string; full?: boolean }) => {
      const onWait = (gcs: string[]) => warn(`waiting for backup gc ${gcs.join(', ')} to finish`);
      const m = await withBar(o, (onProgress) => backupCreate(repo, image, { ...openOptions(o), name: o.name, full: o.full, signal, onProgress, onWait, store: { endpoint: o.endpoint } }));
      const c = m.counts;
      console.log(`Snapshot ${m.id} (${m.name}): ${c.total} chunks, ${c.new} new, ${c.reused} reused, ${c.zero} zero; ${c.storedBytes} bytes stored.`);
    });

  withEndpoint(backup.command('list'))
    .description("list a repository's snapshots, oldest first")
    .argument('<repo>')
    .option('--json', 'machine-readable output')
    .action(async (repo: string, o: { json?: boolean; endpoint?: string }) => {
      const snapshots = await (await openRepository(repo, o)).snapshots();
      if (o.json) printJson(snapshots);
      else if (snapshots.length === 0) console.log(`${repo} holds no snapshots.`);
      else console.log(snapshots.map(listLine).join('\n'));
    });

  withEndpoint(withProgress(backup.command('restore')))
    .description('write SNAPSHOT (an ID, or the newest of a name) to DST in any format (- for stdout)')
    .argument('<repo>')
    .argument('<snapshot>')
    .argument('<dst>')
    .option('-O, --output-format <fmt>', `output format: ${formatNames((f) => f.create !== undefined)}`)
    .option('--target <profile>', 'what a hypervisor accepts: azure, hyperv, xen, virtualbox, vmware, qemu (docs/targets.md)')
    .option('--keep-uuid', "give the output the backed-up disk's UUID (default: a new one)")
    .option('-o, --options <list>', 'output format options, e.g. subformat=fixed')
    .option('-c, --compress', 'compress the output data (formats that can)')
    .option('--replace', 'replace an existing DST file atomically')
    .option('-t, --cache <mode>', 'how DST is written: writeback (default) or none (O_DIRECT where possible)')
    .action(async (repo: string, snapshot: string, dst: string, o: RawRestoreOptions) => {
      const opts = { outputFormat: o.outputFormat, target: o.target, options: parseKeyValues(o.options), keepUuid: o.keepUuid, compress: o.compress, replace: o.replace, cache: cacheMode(o.cache), onWarning: warn, signal, store: { endpoint: o.endpoint } };
      await withBar(o, async (onProgress) => {
        if (dst === '-') await restoreToStream(repo, snapshot, process.stdout, { ...opts, onProgress });
        else await restoreToFile(repo, snapshot, dst, { ...opts, onProgress });
      });
    });

  addBackupServe(backup, signal, onSignalStop);
  addBackupMaintenance(backup, signal);
}
