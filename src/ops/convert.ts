import { copyImage, type ProgressFn } from '../engine/copy.js';
import { createImage, openImage } from '../formats/registry.js';
import type { OpenOptions, WritableDiskImage } from '../formats/types.js';
import { checkOutputPath, commitOutput, discardOutput, tempPathFor } from './output-file.js';

/** Options of `vdisk convert`. */
export interface ConvertOptions extends OpenOptions {
  /** Source format (probed when absent). */
  format?: string;
  /** Output format. */
  outputFormat: string;
  /** `-o` options for the output. */
  options?: Record<string, string>;
  onProgress?: ProgressFn;
  signal?: AbortSignal;
}

/** What a conversion did. */
export interface ConvertResult {
  virtualSize: number;
  dataBytes: number;
  writtenBytes: number;
}

/**
 * Converts SRC (any readable format, its whole chain) to a new DST: writes
 * to a temporary name beside DST, flushes, renames on success, and removes the
 * partial file on any failure or interrupt.
 */
export async function convert(src: string, dst: string, opts: ConvertOptions): Promise<ConvertResult> {
  const source = await openImage(src, { ...opts, writable: false });
  let target: WritableDiskImage | undefined;
  let temp: string | undefined;
  try {
    checkOutputPath(dst, [source]);
    temp = tempPathFor(dst);
    target = await createImage(temp, opts.outputFormat, { virtualSize: source.virtualSize, options: opts.options ?? {} });
    const stats = await copyImage(source, target, { onProgress: opts.onProgress, signal: opts.signal });
    await target.flush();
    await target.close();
    target = undefined;
    await commitOutput(temp, dst);
    temp = undefined;
    return { virtualSize: source.virtualSize, ...stats };
  } finally {
    await target?.close();
    if (temp) await discardOutput(temp);
    await source.close();
  }
}
