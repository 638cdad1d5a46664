import { DiskImageError } from '../errors.js';

/** Prints a warning to stderr as one line. */
export function warn(message: string): void {
  process.stderr.write(`vdisk: warning: ${message}\n`);
}

/** Prints an error as one line `vdisk: <path>: <message> (<operation> at byte <offset>) (<code>)` (context shown when the message lacks it); a stack only with VDISK_DEBUG=1. */
export function reportError(err: unknown): void {
  if (process.env.VDISK_DEBUG === '1' && err instanceof Error) process.stderr.write(`${err.stack}\n`);
  if (err instanceof DiskImageError) process.stderr.write(`vdisk: ${err.describe()} (${err.code})\n`);
  else process.stderr.write(`vdisk: internal error: ${err instanceof Error ? err.message : String(err)} (BUG)\n`);
}

/** Prints a value as stable, indented JSON on stdout. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
