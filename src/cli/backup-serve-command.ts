import { Option, type Command } from 'commander';
import { backupServe } from '../backup/serve.js';
import { withEndpoint } from './backup-options.js';
import { runServer, withListenOptions, type RawListenOptions } from './serve-command.js';

/**
 * Adds `vdisk backup serve REPO SNAPSHOT` to the `backup` command: the
 * snapshot as a read-only NBD export until SIGINT/SIGTERM (`signal`), which
 * ends it normally (`onSignalStop`), with the listen options, ready line and
 * exit counts of `vdisk serve` (docs/serve.md). `--writable` and `--snapshot`
 * are taken only to be refused with a USAGE error naming the snapshot.
 */
export function addBackupServe(backup: Command, signal: AbortSignal, onSignalStop: () => void): void {
  withListenOptions(withEndpoint(backup.command('serve')))
    .description('serve SNAPSHOT (an ID, or the newest of a name) read-only over NBD until SIGINT/SIGTERM (docs/serve.md)')
    .argument('<repo>')
    .argument('<snapshot>')
    .addOption(new Option('--writable').hideHelp())
    .addOption(new Option('--snapshot').hideHelp())
    .addOption(new Option('--snapshot-file <file>').hideHelp())
    .action(async (repo: string, snapshot: string, o: RawListenOptions & { endpoint?: string }) => {
      await runServer(o, onSignalStop, (listen, onReady) => backupServe(repo, snapshot, { listen, writable: o.writable, overlay: o.snapshotFile ?? o.snapshot, signal, onReady, store: { endpoint: o.endpoint } }));
    });
}
