import { DiskImageError } from '../../errors.js';
import { blocksWithData, spanBytes, type Span } from '../../util/spans.js';
import type { Measurement } from '../types.js';
import { allClusters, qcow2Settings } from './settings.js';
import { planNewImage, refcountCover } from './layout.js';
import { refcountTablesTaken } from './refcount-writer.js';

/**
 * The qcow2 `convert` writes to a file (create.ts, then writer.ts as the
 * engine copies the non-zero 64 KiB runs in guest order).
 *
 * With preallocation, create lays out every L2 table and data cluster at
 * once (planNewImage) and the data goes in place: the file is that plan;
 * `metadata` leaves the data clusters sparse, `full` allocates them.
 *
 * Without, create writes the plan of an empty image and the writer takes
 * one L2 table per L1 entry with data and one cluster per guest cluster
 * holding a non-zero run at the end of the file: the header, L1, L2 and
 * data clusters planNewImage counts for those clusters. Its refcount table
 * starts at the empty plan's size and grows as the blocks pass its end
 * (refcount-writer.ts), and every table it outgrows stays in the file,
 * freed (its space punched out). That happens only for small clusters: one
 * table cluster of 512-byte clusters covers 8 MiB of image, of 64 KiB
 * clusters 16 TiB. A compressed image (compressed=on) is refused.
 */
export function measureQcow2(virtualSize: number, options: Record<string, string>, nonZero: Span[]): Measurement {
  const s = qcow2Settings(options, virtualSize);
  if (s.compressed) throw new DiskImageError('UNSUPPORTED', 'measure cannot predict a compressed qcow2 (compressed=on, convert -c): its size depends on how each cluster compresses');
  const cs = 2 ** s.clusterBits;
  const geometry = { clusterBits: s.clusterBits, extended: s.extended, l1Size: s.l1Size };
  if (s.preallocation !== 'off') {
    const p = planNewImage({ ...geometry, dataClusters: allClusters(s) });
    const data = s.preallocation === 'full' ? (p.end - p.dataAt) * cs : spanBytes(nonZero);
    return { fileSize: p.end * cs, allocatedBytes: p.dataAt * cs + data };
  }
  const first = planNewImage({ ...geometry, dataClusters: [] }).refTableClusters;
  const p = planNewImage({ ...geometry, dataClusters: blocksWithData(nonZero, cs) });
  const others = p.end - p.refBlocks - p.refTableClusters;
  const { blocks, tableClusters } = refcountCover(others, cs, (b) => {
    const t = refcountTablesTaken(first, b, cs);
    return t.inUse + t.outgrown;
  });
  const end = others + blocks + tableClusters;
  const metadata = end - refcountTablesTaken(first, blocks, cs).outgrown - (p.end - p.dataAt);
  return { fileSize: end * cs, allocatedBytes: metadata * cs + spanBytes(nonZero) };
}
