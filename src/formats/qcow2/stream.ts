import { MemoryFile } from '../../io/memory-file.js';
import { blocksWithData } from '../../util/spans.js';
import { BlockStreamWriter } from '../block-stream.js';
import { compressorOf, type ByteSink, type SequentialWriter, type StreamLayout } from '../sequential.js';
import { Qcow2CompressedWriter } from './compressed-writer.js';
import { allClusters, newHeader, qcow2Settings } from './settings.js';
import { encodeHeaderCluster } from './header-writer.js';
import { planNewImage, writeNewImage } from './layout.js';

/**
 * A qcow2 written front to back, nothing sought back: the layout is planned
 * from the source's non-zero spans before any data (header, refcount table
 * and blocks, L1 table, one L2 table per L1 entry with data, then one data
 * cluster for every guest cluster holding a non-zero span, in guest order,
 * the last one padded to a whole cluster). With preallocation every guest
 * cluster is stored. Every cluster has refcount 1, so `qemu-img check`
 * finds neither leaks nor errors. With compressed=on (`convert -c`) the
 * Qcow2CompressedWriter writes it instead.
 */
export async function qcow2SequentialWriter(sink: ByteSink, l: StreamLayout): Promise<SequentialWriter> {
  const s = qcow2Settings(l.options, l.virtualSize);
  if (s.compressed) return Qcow2CompressedWriter.start(sink, s, compressorOf(l));
  const cs = 2 ** s.clusterBits;
  const dataClusters = s.preallocation === 'off' ? blocksWithData(l.spans, cs) : allClusters(s);
  const plan = planNewImage({ clusterBits: s.clusterBits, extended: s.extended, l1Size: s.l1Size, dataClusters });
  const file = new MemoryFile();
  await writeNewImage(file, plan, encodeHeaderCluster({ header: newHeader(s, plan), backing: s.backing }, cs));
  return BlockStreamWriter.start(sink, { virtualSize: s.size, blockSize: cs, prefix: file.bytes(0, plan.dataAt * cs), blocks: dataClusters });
}
