import type { Command } from 'commander';
import { DiskImageError } from '../errors.js';
import type { OpenOptions } from '../formats/types.js';
import { warn } from './report.js';

/** Splits `-o key=value,key=value` into a record (as qemu-img does; values may not contain commas). */
export function parseKeyValues(text: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!text) return out;
  for (const part of text.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new DiskImageError('USAGE', `option '${part}' is not key=value`);
    out[part.slice(0, eq)] = part.slice(eq + 1);
  }
  return out;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** Adds the options every command that opens images shares (`-f` for the input format unless `withFormat` is false). */
export function withOpenOptions(cmd: Command, withFormat = true): Command {
  if (withFormat) cmd.option('-f, --format <fmt>', 'input format (probed when omitted)').option('-l, --snapshot <id|name>', "read an internal snapshot's guest view (of the first image)");
  return cmd
    .option('--parent-dir <dir>', 'another directory parents may live in (repeatable)', collect, [])
    .option('--ignore-parent-uuid', 'open a parent whose UUID does not match the child');
}

/** Raw commander options of withOpenOptions. */
export interface RawOpenOptions {
  format?: string;
  parentDir: string[];
  ignoreParentUuid?: boolean;
  snapshot?: string;
}

/** OpenOptions from the shared flags, with warnings going to stderr. */
export function openOptions(o: RawOpenOptions): OpenOptions & { format?: string } {
  return { format: o.format, parentDirs: o.parentDir, ignoreParentUuid: o.ignoreParentUuid === true, onWarning: warn, snapshot: o.snapshot };
}
