import { dirname, resolve } from 'node:path';
import { DiskImageError } from '../errors.js';
import type { ProgressFn } from '../engine/copy.js';
import type { OpenOptions } from '../formats/types.js';
import { CACHE_MODES, convert, type CacheMode } from '../ops/convert.js';
import { convertToStream, pipeInputs, spoolStream } from '../ops/stream.js';
import { formatByName } from '../formats/registry.js';
import { resolveOutput } from '../ops/output-plan.js';

/** What `vdisk convert` was asked, after option parsing. */
export interface ConvertRequest extends OpenOptions {
  format?: string;
  outputFormat?: string;
  target?: string;
  keepUuid?: boolean;
  /** `-c`: compress the output's data. */
  compress?: boolean;
  spool?: boolean;
  /** `-n`: write into the existing DST. */
  existing?: boolean;
  /** `--replace`: replace an existing DST file atomically. */
  replace?: boolean;
  /** `-B`: DST is a new child of this image. */
  backing?: string;
  /** `-t`: how a new DST file is written. */
  cache?: CacheMode;
  options: Record<string, string>;
  onProgress?: ProgressFn;
  signal: AbortSignal;
}

/** Parses `-t` (qemu-img's cache option): none or writeback; anything else is a USAGE error. */
export function cacheMode(text: string | undefined): CacheMode | undefined {
  if (text === undefined) return undefined;
  if ((CACHE_MODES as readonly string[]).includes(text)) return text as CacheMode;
  throw new DiskImageError('USAGE', `-t takes ${CACHE_MODES.join(' or ')}, not '${text}'`);
}

/**
 * `vdisk convert` with `-` for stdin and/or stdout. A stream input (a format
 * whose descriptor allows pipe input, such as raw) is spooled to a sparse temporary file beside
 * the destination (or in $TMPDIR); stdin to stdout into a dynamic format needs
 * `--spool` to say so. Output to stdout is written in file order.
 */
export async function convertCommand(src: string, dst: string, r: ConvertRequest): Promise<void> {
  const fromPipe = src === '-';
  const toPipe = dst === '-';
  if (!fromPipe && !toPipe) return void (await convert(src, dst, r));
  if (toPipe && (r.existing || r.replace)) throw new DiskImageError('USAGE', '-n and --replace write into or over an existing file, not stdout');
  if (toPipe && r.backing !== undefined) throw new DiskImageError('USAGE', '-B writes a differencing child beside its backing file, not to stdout');
  if (fromPipe && !r.format) throw new DiskImageError('USAGE', `a pipe cannot be probed: say ${pipeInputs()} for stdin`);
  const wanted = resolveOutput(r);
  if (fromPipe && toPipe && formatByName(wanted.format).layoutFollowsData?.(wanted.options) && !r.spool) {
    throw new DiskImageError('USAGE', `stdin to stdout as a dynamic ${wanted.format} needs the whole disk first: add --spool (a temporary file the size of the data)`);
  }
  let source = src;
  let cleanup: (() => Promise<void>) | undefined;
  try {
    if (fromPipe) {
      const spool = await spoolStream(process.stdin, toPipe ? '' : dirname(resolve(dst)), r.format!);
      source = spool.path;
      cleanup = spool.remove;
    }
    if (toPipe) {
      await convertToStream(source, process.stdout, r);
    } else {
      await convert(source, dst, r);
    }
  } finally {
    await cleanup?.();
  }
}
