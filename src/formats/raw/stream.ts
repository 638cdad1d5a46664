import { BlockStreamWriter } from '../block-stream.js';
import type { ByteSink, SequentialWriter, StreamLayout } from '../sequential.js';

/** A raw disk written front to back: the guest view as it is, zeros and all (a pipe cannot skip them). */
export function rawSequentialWriter(sink: ByteSink, l: StreamLayout): Promise<SequentialWriter> {
  return BlockStreamWriter.start(sink, { virtualSize: l.virtualSize, blockSize: l.virtualSize, blocks: l.virtualSize > 0 ? [0] : [] });
}
