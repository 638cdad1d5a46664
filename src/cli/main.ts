import { Command, CommanderError } from 'commander';
import { DiskImageError } from '../errors.js';
import { check } from '../ops/check.js';
import { commit } from '../ops/commit.js';
import { compare } from '../ops/compare.js';
import { create } from '../ops/create.js';
import { demo } from '../ops/demo.js';
import { info } from '../ops/info.js';
import { map } from '../ops/map.js';
import { measure } from '../ops/measure.js';
import { rebase } from '../ops/rebase.js';
import { resize } from '../ops/resize.js';
import { compact } from '../ops/compact.js';
import { snapshot } from '../ops/snapshot.js';
import { parseSize } from '../util/sizes.js';
import { cacheMode, convertCommand } from './convert-command.js';
import { checkText, infoText, mapText } from './format-text.js';
import { openOptions, parseKeyValues, withOpenOptions, type RawOpenOptions } from './options.js';
import { progressBar } from './progress.js';
import { printJson, reportError, warn } from './report.js';
import { profileByName } from '../targets/profiles.js';
import { profileOutput } from '../targets/profile-output.js';
import { formatNames } from '../formats/registry.js';
import { formatsHelp } from './formats-help.js';
import { addServeCommand } from './serve-command.js';
import { addBackupCommand } from './backup-command.js';
import { addWebCommand } from './web-command.js';

/** Exit codes of `vdisk check` (docs/architecture.md, "Errors and exit codes"): clean, corruption, leaks only, could not check. */
const CHECK_EXIT = { clean: 0, corruption: 2, nonconformant: 2, leaks: 3, error: 1 } as const;

/** Set when an interrupt arrives; long operations stop, clean up and exit 130. */
const interrupt = new AbortController();
/** True when the running command ends on SIGINT/SIGTERM by design (serve): its exit code is its own, not 130. */
let signalEndsCommand = false;

function buildProgram(): Command {
  const program = new Command('vdisk')
    .description('Move virtual machine disks between hypervisors without losing a byte.')
    .version('0.1.0')
    .showHelpAfterError()
    .addHelpText('after', formatsHelp())
    .exitOverride();

  withOpenOptions(program.command('info').description('describe an image').argument('<image>'))
    .option('--json', 'machine-readable output (docs/json-schema.md)')
    .option('--chain', 'describe every layer of a differencing chain')
    .action(async (image: string, o: RawOpenOptions & { json?: boolean; chain?: boolean }) => {
      const layers = await info(image, { ...openOptions(o), chain: o.chain });
      if (o.json) printJson(o.chain ? layers : layers[0]);
      else console.log(infoText(layers));
    });

  withOpenOptions(program.command('create').description('create a new image (SIZE: 512, 10M, 4G, 2T)').argument('<image>').argument('[size]'), false)
    .requiredOption('-f, --format <fmt>', `format to create: ${formatNames((f) => f.create !== undefined)}`)
    .option('-o, --options <list>', 'format options, e.g. subformat=fixed,block_size=2M')
    .option('-b, --backing <parent>', 'create a differencing child of this image')
    .action(async (image: string, size: string | undefined, o: RawOpenOptions & { format: string; options?: string; backing?: string }) => {
      await create(image, {
        ...openOptions({ ...o, format: undefined }),
        format: o.format,
        size: size === undefined ? undefined : parseSize(size),
        options: parseKeyValues(o.options),
        backing: o.backing,
      });
    });

  withOpenOptions(program.command('convert').description('convert an image to another format (- for stdin or stdout)').argument('<src>').argument('<dst>'))
    .option('-O, --output-format <fmt>', `output format: ${formatNames((f) => f.create !== undefined)}`)
    .option('--target <profile>', 'what a hypervisor accepts: azure, hyperv, xen, virtualbox, vmware, qemu (docs/targets.md)')
    .option('--keep-uuid', "give the output the source's UUID (default: a new one)")
    .option('-o, --options <list>', 'output format options, e.g. subformat=fixed')
    .option('-c, --compress', 'compress the output data, as qemu-img convert -c (formats that can: see vdisk formats)')
    .option('-p, --progress', 'a progress bar on a terminal (--progress=json: JSON lines on stderr)')
    .option('--progress-json', 'JSON progress lines on stderr (also --progress=json)')
    .option('--spool', 'stdin to stdout into a dynamic format: spool the input to a temporary file first')
    .option('-n, --no-create', 'write into the existing image or block device DST (its format, size and identity kept)')
    .option('-B, --backing <image>', 'make DST a new child of the existing BACKING holding only what differs from it (as qemu-img convert -B)')
    .option('--replace', 'replace an existing DST file atomically (written beside it, renamed over it on success)')
    .option('-t, --cache <mode>', 'how a new DST file is written: writeback (default; through the page cache, written back at once and dropped behind) or none (O_DIRECT where possible)')
    .action(async (src: string, dst: string, o: RawOpenOptions & { outputFormat?: string; target?: string; keepUuid?: boolean; compress?: boolean; spool?: boolean; create: boolean; replace?: boolean; backing?: string; cache?: string; options?: string; progress?: boolean; progressJson?: boolean }) => {
      const cache = cacheMode(o.cache);
      const bar = progressBar(o.progressJson ? 'json' : o.progress);
      try {
        const profile = o.target ? profileByName(o.target) : undefined;
        const note = profile && profileOutput(profile).note;
        if (note) warn(`--target ${o.target}: ${note}`);
        await convertCommand(src, dst, { ...openOptions(o), outputFormat: o.outputFormat, target: o.target, keepUuid: o.keepUuid, compress: o.compress, spool: o.spool, existing: !o.create, replace: o.replace, backing: o.backing, cache, options: parseKeyValues(o.options), onProgress: bar.update, signal: interrupt.signal });
      } finally {
        bar.stop();
      }
    });

  withOpenOptions(program.command('check').description('check an image (exit 0 clean, 2 corrupt, 3 leaks, 1 could not check)').argument('<image>'))
    .option('--repair', 'fix what can be fixed without guessing')
    .option('--target <profile>', 'also check every rule of a hypervisor profile (azure, hyperv, xen, ...)')
    .option('--json', 'machine-readable output')
    .action(async (image: string, o: RawOpenOptions & { repair?: boolean; json?: boolean; target?: string }) => {
      const report = await check(image, { ...openOptions(o), repair: o.repair, target: o.target });
      if (o.json) printJson(report);
      else console.log(checkText(report));
      process.exitCode = CHECK_EXIT[report.result];
    });

  withOpenOptions(program.command('compare').description('compare guest contents (exit 0 identical, 1 differ, 2 error)').argument('<a>').argument('<b>'))
    .option('-p, --progress', 'a progress bar on a terminal (--progress=json: JSON lines on stderr)')
    .option('--progress-json', 'JSON progress lines on stderr (also --progress=json)')
    .action(async (a: string, b: string, o: RawOpenOptions & { progress?: boolean; progressJson?: boolean }) => {
      const bar = progressBar(o.progressJson ? 'json' : o.progress);
      const r = await compare(a, b, { ...openOptions(o), onProgress: bar.update }).finally(() => bar.stop());
      if (r.sizeMismatch) console.log('Warning: Image size mismatch!');
      if (r.identical) console.log('Images are identical.');
      else console.log(`Content mismatch at offset ${r.mismatchOffset}!`);
      process.exitCode = r.identical ? 0 : 1;
    });

  withOpenOptions(program.command('map').description('list allocation extents (offset, length, kind, depth)').argument('<image>'))
    .option('--json', 'machine-readable output')
    .action(async (image: string, o: RawOpenOptions & { json?: boolean }) => {
      const extents = await map(image, openOptions(o));
      if (o.json) printJson(extents);
      else console.log(mapText(extents));
    });

  withOpenOptions(program.command('measure').description('the exact file size convert -O FMT would write, and the bytes it would write').argument('<src>'))
    .requiredOption('-O, --output-format <fmt>', `output format: ${formatNames((f) => f.measure !== undefined)}`)
    .option('-o, --options <list>', 'output format options, as for convert')
    .option('--json', 'machine-readable output')
    .option('-p, --progress', 'a progress bar on a terminal (--progress=json: JSON lines on stderr)')
    .option('--progress-json', 'JSON progress lines on stderr (also --progress=json)')
    .action(async (src: string, o: RawOpenOptions & { outputFormat: string; options?: string; json?: boolean; progress?: boolean; progressJson?: boolean }) => {
      const bar = progressBar(o.progressJson ? 'json' : o.progress);
      const r = await measure(src, o.outputFormat, { ...openOptions(o), options: parseKeyValues(o.options), onProgress: bar.update }).finally(() => bar.stop());
      if (o.json) printJson(r);
      else console.log(`required size: ${r.fileSize}\nallocated bytes: ${r.allocatedBytes}\ndata bytes: ${r.dataBytes}`);
    });

  withOpenOptions(program.command('snapshot').description('create a differencing child of BASE').argument('<base>').argument('<child>'), false).action(
    async (base: string, child: string, o: RawOpenOptions) => {
      await snapshot(base, child, openOptions({ ...o, format: undefined }));
    },
  );

  withOpenOptions(program.command('commit').description("merge CHILD's data into its parent (or, with -b, every layer down to BASE)").argument('<child>'), false)
    .option('-b, --base <base>', 'commit every layer down to this ancestor')
    .option('--drop', 'remove the committed image(s) after success')
    .option('-p, --progress', 'a progress bar on a terminal (--progress=json: JSON lines on stderr)')
    .option('--progress-json', 'JSON progress lines on stderr (also --progress=json)')
    .action(async (child: string, o: RawOpenOptions & { base?: string; drop?: boolean; progress?: boolean; progressJson?: boolean }) => {
      const bar = progressBar(o.progressJson ? 'json' : o.progress);
      const r = await commit(child, { ...openOptions({ ...o, format: undefined }), base: o.base, drop: o.drop, onProgress: bar.update, signal: interrupt.signal }).finally(() => bar.stop());
      console.log(`Committed ${r.dataBytes} bytes from ${r.merged.join(', ')} into ${r.base}.${r.dropped.length ? ` Removed ${r.dropped.join(', ')}.` : ''}`);
    });

  withOpenOptions(program.command('rebase').description('give CHILD a new parent').argument('<child>'), false)
    .requiredOption('-b, --backing <newbase>', 'the new parent')
    .option('-u, --unsafe', 'only rewrite the parent reference (the guest view changes if the parents differ)')
    .option('-p, --progress', 'a progress bar on a terminal (--progress=json: JSON lines on stderr)')
    .option('--progress-json', 'JSON progress lines on stderr (also --progress=json)')
    .action(async (child: string, o: RawOpenOptions & { backing: string; unsafe?: boolean; progress?: boolean; progressJson?: boolean }) => {
      const bar = progressBar(o.progressJson ? 'json' : o.progress);
      await rebase(child, o.backing, { ...openOptions({ ...o, format: undefined }), unsafe: o.unsafe, onProgress: bar.update }).finally(() => bar.stop());
    });

  withOpenOptions(program.command('resize').description('change the virtual size in place (grow; shrink with --shrink when the cut range holds no data)').argument('<image>').argument('<size>'))
    .option('--shrink', 'allow a smaller size')
    .action(async (image: string, size: string, o: RawOpenOptions & { shrink?: boolean }) => {
      const r = await resize(image, parseSize(size), { ...openOptions(o), shrink: o.shrink });
      console.log(`Resized ${image} from ${r.oldSize} to ${r.newSize} bytes.`);
    });

  withOpenOptions(program.command('compact').description('drop all-zero blocks and give their space back, in place').argument('<image>')).action(
    async (image: string, o: RawOpenOptions) => {
      const r = await compact(image, openOptions(o));
      console.log(`Dropped ${r.blocksDropped} all-zero block(s); file ${r.bytesBefore} -> ${r.bytesAfter} bytes, on disk ${r.allocatedBefore} -> ${r.allocatedAfter}.`);
    },
  );

  const onSignalStop = () => (signalEndsCommand = true);
  addServeCommand(program, interrupt.signal, onSignalStop);
  addBackupCommand(program, interrupt.signal, onSignalStop);
  addWebCommand(program, interrupt.signal, onSignalStop);

  program
    .command('demo')
    .description('a self-contained tour on a generated disk')
    .action(async () => {
      await demo((line) => console.log(line));
    });
  return program;
}

/** Exit code for a failure of `command`: compare uses 2 for errors, everything else 1. */
function failureCode(command: string | undefined): number {
  return command === 'compare' ? 2 : 1;
}

/** Runs the CLI with argv (without node and script); resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  const onSigint = () => interrupt.abort();
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigint);
  const program = buildProgram();
  try {
    await program.parseAsync(
      argv.flatMap((a) => (a === '--progress=json' ? ['--progress-json'] : a.startsWith('--snapshot=') ? ['--snapshot-file', a.slice('--snapshot='.length)] : [a])),
      { from: 'user' },
    );
    return interrupt.signal.aborted && !signalEndsCommand ? 130 : Number(process.exitCode ?? 0);
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.exitCode === 0 ? 0 : failureCode(argv[0]);
    }
    if (interrupt.signal.aborted) {
      process.stderr.write('vdisk: interrupted\n');
      return 130;
    }
    if (err instanceof DiskImageError || err instanceof Error) reportError(err);
    return failureCode(argv[0]);
  } finally {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigint);
  }
}
