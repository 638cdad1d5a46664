import { MemoryFile } from '../../io/memory-file.js';
import { blocksWithData } from '../../util/spans.js';
import { BlockStreamWriter } from '../block-stream.js';
import type { ByteSink, SequentialWriter, StreamLayout } from '../sequential.js';
import { appendedBlockOffset, bitmapBytes } from './bat.js';
import { FOOTER_SIZE, SECTOR } from './constants.js';
import { readVhdLayout } from './layout.js';
import { planVhd, writeNewVhd } from './new-image.js';

/**
 * A VHD written front to back. Its metadata is encoded by `writeNewVhd` into
 * memory (so options are checked and fields set exactly as for a file):
 * fixed = the guest data, then the footer; dynamic = footer copy, header and
 * a BAT that allocates, in order, every block holding a non-zero span, then
 * each such block (zero padding so its data is 4 KiB aligned, an all-ones
 * bitmap, the data), then the footer.
 */
export async function vhdSequentialWriter(sink: ByteSink, l: StreamLayout): Promise<SequentialWriter> {
  const file = new MemoryFile();
  await writeNewVhd(file, planVhd({ virtualSize: l.virtualSize, options: l.options, uuid: l.uuid }));
  const { header, virtualSize } = await readVhdLayout(file);
  const footer = file.bytes(file.size - FOOTER_SIZE, FOOTER_SIZE);
  if (!header) return BlockStreamWriter.start(sink, { virtualSize, blockSize: virtualSize, blocks: [0], suffix: footer });
  const bs = header.blockSize;
  const dataStart = file.size - FOOTER_SIZE;
  const prefix = file.bytes(0, dataStart);
  const view = new DataView(prefix.buffer);
  const bitmap = new Uint8Array(bitmapBytes(bs)).fill(0xff);
  const blocks = blocksWithData(l.spans, bs);
  blocks.forEach((b, k) => view.setUint32(header.tableOffset + b * 4, appendedBlockOffset(dataStart, bs, k) / SECTOR));
  // Padding then the bitmap: before the first block up to its aligned data, before the others the same gap each time.
  const head = (pad: number) => {
    const h = new Uint8Array(pad + bitmap.length);
    h.set(bitmap, pad);
    return h;
  };
  const first = head(appendedBlockOffset(dataStart, bs) - dataStart);
  const later = head(appendedBlockOffset(dataStart, bs, 1) - appendedBlockOffset(dataStart, bs) - bitmap.length - bs);
  return BlockStreamWriter.start(sink, { virtualSize, blockSize: bs, prefix, blocks, blockHead: (k) => (k === 0 ? first : later), suffix: footer });
}
