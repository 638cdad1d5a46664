import type { ProgressFn } from '../engine/copy.js';
import { nonZeroSpans } from '../engine/scan.js';
import { DiskImageError } from '../errors.js';
import { formatByName, openImage } from '../formats/registry.js';
import type { Measurement, OpenOptions } from '../formats/types.js';

/** What `vdisk measure` reports for one source and output format. */
export interface MeasureResult extends Measurement {
  format: string;
  virtualSize: number;
  /** Bytes of the source's guest view that are not zero (in 64 KiB runs). */
  dataBytes: number;
}

/**
 * The exact size of the file `vdisk convert -O FORMAT` would write from SRC,
 * and the bytes it would write: the source's data is read and scanned for
 * zeros exactly as convert does, nothing is written.
 */
export async function measure(
  src: string,
  outputFormat: string,
  opts: OpenOptions & { format?: string; options?: Record<string, string>; onProgress?: ProgressFn } = {},
): Promise<MeasureResult> {
  const f = formatByName(outputFormat);
  if (!f.measure) throw new DiskImageError('UNSUPPORTED', `measure does not know ${outputFormat} yet`);
  const unknown = Object.keys(opts.options ?? {}).filter((k) => !f.createOptions?.includes(k));
  if (unknown.length) throw new DiskImageError('USAGE', `${outputFormat} does not take option(s) ${unknown.join(', ')}`);
  const image = await openImage(src, { ...opts, writable: false });
  try {
    const spans = await nonZeroSpans(image, opts.onProgress);
    const m = f.measure(image.virtualSize, opts.options ?? {}, spans);
    return { format: outputFormat, virtualSize: image.virtualSize, dataBytes: spans.reduce((n, s) => n + s.end - s.start, 0), ...m };
  } finally {
    await image.close();
  }
}
