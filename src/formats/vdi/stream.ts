import { MemoryFile } from '../../io/memory-file.js';
import { blocksWithData } from '../../util/spans.js';
import { BlockStreamWriter } from '../block-stream.js';
import type { ByteSink, SequentialWriter, StreamLayout } from '../sequential.js';
import { BLOCKS_ALLOCATED_AT } from './constants.js';
import { parseVdiHeader } from './header.js';
import { planVdi, writeNewVdi } from './new-image.js';

/**
 * A VDI written front to back. Its header and block array are encoded by
 * `planVdi` into memory (so options are checked and fields set exactly as
 * for a file): pre-header and header, the block array at 1 MiB, the data at
 * the next MiB (VDICore.h VDI_DATA_ALIGN). A fixed image stores every block
 * in order; a dynamic one stores, in guest order, every block holding a
 * non-zero span, its block array entry the block's index among them
 * (VDICore.h: paBlocks, "block index in file"), cBlocksAllocated their
 * count, and every other entry VDI_IMAGE_BLOCK_FREE.
 */
export async function vdiSequentialWriter(sink: ByteSink, l: StreamLayout): Promise<SequentialWriter> {
  const plan = planVdi({ virtualSize: l.virtualSize, options: l.options, uuid: l.uuid });
  const file = new MemoryFile();
  await writeNewVdi(file, plan);
  const header = parseVdiHeader('(stream)', plan.head);
  const bs = header.blockSize;
  const prefix = file.bytes(0, header.dataOffset);
  const all = Array.from({ length: header.blocks }, (_, i) => i);
  if (header.type === 'fixed') return BlockStreamWriter.start(sink, { virtualSize: header.diskSize, blockSize: bs, prefix, blocks: all });
  const blocks = blocksWithData(l.spans, bs);
  const view = new DataView(prefix.buffer, prefix.byteOffset, prefix.byteLength);
  blocks.forEach((b, k) => view.setUint32(header.blocksOffset + b * 4, k, true));
  view.setUint32(BLOCKS_ALLOCATED_AT, blocks.length, true);
  return BlockStreamWriter.start(sink, { virtualSize: header.diskSize, blockSize: bs, prefix, blocks });
}
