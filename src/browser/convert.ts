import { streamThrough } from '../engine/stream-copy.js';
import { appendSink } from '../formats/sequential.js';
import type { CompressPoolOptions } from '../util/compressor.js';
import { roundUp } from '../util/checked.js';
import { isAllZero, ZERO_MIB } from '../util/zero.js';
import { openTop } from './inspect.js';
import type { OutputChoice } from './output-choices.js';
import { pageOutput, type PageOutput } from './page-outputs.js';
import { StreamCompressor } from './stream-compressor.js';

/** Where the output goes: positioned writes into a file that starts empty (an OPFS sync access handle in the worker). */
export interface OutputFile {
  write(buf: Uint8Array, offset: number): void;
  truncate(size: number): void;
}

/**
 * Converts the top image among picked files (with its chain) as `choice`
 * says, into `out`, through the format's sequential writer: the same bytes
 * `vdisk convert` writes to a pipe, but an all-zero piece is not written
 * (the file is truncated to its length at the end, so it reads as zeros
 * there), which keeps a sparse disk's output sparse and fast; the padding
 * writers emit from ZERO_MIB, which is never written, is known to be zeros
 * without being scanned. Returns the
 * download's name and the file's size. Cancelling is stopping the worker.
 */
export async function convertPicked(picked: { name: string; blob: Blob }[], choice: OutputChoice, out: OutputFile, onProgress: (done: number, total: number) => void): Promise<{ name: string; size: number }> {
  const o = pageOutput(choice);
  const image = await openTop(picked);
  try {
    const name = outputName(image.path, o);
    const sink = appendSink(
      (buf, at) => out.write(buf, at),
      (buf) => buf.buffer !== ZERO_MIB.buffer && !isAllZero(buf),
    );
    const virtualSize = roundUp(image.virtualSize, o.sizeMultiple);
    const compressor = (c: CompressPoolOptions) => new StreamCompressor(c);
    await streamThrough(image, (spans) => o.writer(sink, { virtualSize, options: o.options, spans, path: name, compressor }), onProgress);
    out.truncate(sink.size);
    return { name, size: sink.size };
  } finally {
    await image.close();
  }
}

/** The top image's name without its extension, the choice's tag (target or subformat), and the output's extension: `disk-azure.vhd`, `disk-dynamic.vhdx`. */
function outputName(topName: string, o: PageOutput): string {
  const stem = topName.replace(/\.[^.]*$/, '');
  return `${stem}${o.tag ? `-${o.tag}` : ''}.${o.extension}`;
}
