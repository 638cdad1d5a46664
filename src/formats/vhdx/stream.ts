import { MemoryFile } from '../../io/memory-file.js';
import { blocksWithData } from '../../util/spans.js';
import { BlockStreamWriter } from '../block-stream.js';
import type { ByteSink, SequentialWriter, StreamLayout } from '../sequential.js';
import { encodeBatEntry } from './bat.js';
import { payloadEntryIndex } from './bat-geometry.js';
import { MiB, PayloadState } from './constants.js';
import { readVhdxLayout } from './layout.js';
import { planVhdx, writeNewVhdx } from './new-image.js';

/**
 * A VHDX written front to back. Its metadata is encoded by `writeNewVhdx` into
 * memory (options checked and fields set exactly as for a file): identifier,
 * headers, region tables, empty log, metadata and a BAT that places, in
 * order, every block holding a non-zero span (every block of a fixed VHDX),
 * then those blocks, the last one padded to a whole block.
 */
export async function vhdxSequentialWriter(sink: ByteSink, l: StreamLayout): Promise<SequentialWriter> {
  const file = new MemoryFile();
  await writeNewVhdx(file, planVhdx({ virtualSize: l.virtualSize, options: l.options, uuid: l.uuid }));
  const { bat, regions, metadata } = await readVhdxLayout(file, true);
  const { virtualSize } = metadata;
  const g = bat.geometry;
  const dataStart = regions.bat.offset + regions.bat.length;
  const prefix = file.bytes(0, dataStart);
  const fixed = bat.states.every((s) => s === PayloadState.fullyPresent);
  const blocks = fixed ? Array.from({ length: g.payloadBlocks }, (_, b) => b) : blocksWithData(l.spans, g.blockSize);
  blocks.forEach((b, k) => prefix.set(encodeBatEntry(PayloadState.fullyPresent, (dataStart + k * g.blockSize) / MiB), regions.bat.offset + payloadEntryIndex(g, b) * 8));
  return BlockStreamWriter.start(sink, { virtualSize, blockSize: g.blockSize, prefix, blocks });
}
