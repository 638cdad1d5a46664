import { DiskImageError } from '../../errors.js';
import { MemoryFile } from '../../io/memory-file.js';
import { blocksWithData } from '../../util/spans.js';
import { BlockStreamWriter } from '../block-stream.js';
import type { ByteSink, SequentialWriter, StreamLayout } from '../sequential.js';
import { EMBEDDED_DESCRIPTOR_SECTORS, ENTRY_SIZE, SECTOR, WRITE_GTES_PER_GT } from './constants.js';
import { grainOption, subformatOption } from './write-options.js';
import { descriptorSectors, newDescriptor } from './descriptor-writer.js';
import { tableSectorOf, writeEmptySparse } from './sparse-layout.js';
import { StreamOptimizedWriter } from './stream-writer.js';

/** The name a piped VMDK records for itself when the output has no file name. */
const PIPE_NAME = 'disk.vmdk';

/**
 * A monolithic sparse VMDK written front to back: its metadata as
 * `writeEmptySparse` lays it out, with both directories' tables pointing, in
 * order, at one grain for every grain holding a non-zero span; then those
 * grains, the last one padded to a whole grain.
 */
async function monolithicSparseStream(sink: ByteSink, l: StreamLayout, name: string): Promise<SequentialWriter> {
  const sectors = Math.ceil(l.virtualSize / SECTOR);
  const grainSize = grainOption(l.options.block_size);
  const descriptor = descriptorSectors(newDescriptor('monolithicSparse', sectors, [{ sectors, type: 'SPARSE', file: name }], l.options, l.uuid), EMBEDDED_DESCRIPTOR_SECTORS);
  const file = new MemoryFile();
  const layout = await writeEmptySparse(file, sectors, grainSize, descriptor);
  const prefix = file.bytes(0, layout.overHead * SECTOR);
  const view = new DataView(prefix.buffer);
  const grainBytes = grainSize * SECTOR;
  const blocks = blocksWithData(l.spans, grainBytes);
  blocks.forEach((b, k) => {
    for (const gd of [layout.rgdSector, layout.gdSector]) {
      const at = tableSectorOf(layout, gd, Math.floor(b / WRITE_GTES_PER_GT)) * SECTOR + (b % WRITE_GTES_PER_GT) * ENTRY_SIZE;
      view.setUint32(at, layout.overHead + k * grainSize, true);
    }
  });
  return BlockStreamWriter.start(sink, { virtualSize: sectors * SECTOR, blockSize: grainBytes, prefix, blocks });
}

/** A VMDK written front to back in the subformat the options name: streamOptimized (compressed, workers) or monolithicSparse; UNSUPPORTED for the subformats that are several files. */
export async function vmdkSequentialWriter(sink: ByteSink, l: StreamLayout): Promise<SequentialWriter> {
  const name = l.path ? l.path.slice(l.path.lastIndexOf('/') + 1) : PIPE_NAME;
  const sub = subformatOption(l.options);
  if (sub === 'streamOptimized') return StreamOptimizedWriter.start(sink, l, name);
  if (sub === 'monolithicSparse') return monolithicSparseStream(sink, l, name);
  throw new DiskImageError('UNSUPPORTED', `a ${sub} VMDK is several files: it cannot be written to a pipe (monolithicSparse or streamOptimized can)`, { value: sub });
}
