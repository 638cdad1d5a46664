import { DiskImageError } from '../../errors.js';
import { openDiskFile } from '../../io/file.js';
import type { ByteSource } from '../../io/byte-source.js';
import type { FileOpener } from '../../io/image-file.js';
import { referenceWalk } from './check.js';
import { ENTRY_BYTES, INCOMPAT_DIRTY, REFCOUNT_TABLE_FIELDS_OFFSET, WRITTEN_REFCOUNT_BYTES, WRITTEN_REFCOUNT_ORDER } from './constants.js';
import { hasBit, type Qcow2Header } from './header.js';
import { refcountCover } from './layout.js';
import { nodeAccess } from './open.js';
import { openParts } from './read-format.js';
import { decodeRefcounts } from './refcounts.js';

/** Header bytes rewritten at once by a repair: refcount_table_offset through incompatible_features ("Header", bytes 48-79). */
const SWITCH_END = 80;

/** How many clusters' stored refcounts differ from their references `counts`: [too high (leaks), too low]; `table` is the refcount table the walk read. */
async function differences(file: ByteSource, h: Qcow2Header, table: number[], counts: Uint16Array): Promise<[number, number]> {
  const per = (h.clusterSize * 8) / 2 ** h.refcountOrder;
  const buf = new Uint8Array(h.clusterSize);
  let leaks = 0;
  let low = 0;
  for (const [b, at] of table.entries()) {
    if (b * per >= counts.length) break;
    let stored: Uint16Array = new Uint16Array(per);
    if (at !== 0 && at + h.clusterSize <= file.size) {
      await file.read(buf, at);
      stored = decodeRefcounts(buf, h.refcountOrder);
    }
    for (let i = 0; i < per && b * per + i < counts.length; i++) {
      if (stored[i]! > counts[b * per + i]!) leaks++;
      else if (stored[i]! < counts[b * per + i]!) low++;
    }
  }
  return [leaks, low];
}

/**
 * `check --repair` for qcow2: rebuilds the refcounts from the references a
 * walk of every structure counts (as qemu-img check -r all does), when the
 * stored ones differ (leaks, refcounts too low) or the dirty bit is set. The
 * new refcount table and blocks go after the end of the file (each new
 * cluster counted once), fsync; then one write inside the first sector
 * switches refcount_table_offset and refcount_table_clusters to them and
 * clears the dirty bit, fsync. A crash before the switch leaves the old
 * refcounts; the old table and blocks are free space afterwards. Damaged
 * tables (entries past the end, in metadata, ...) are refused (CORRUPT):
 * vdisk does not guess which reference is right.
 */
export async function repairQcow2(path: string, openFile: FileOpener = openDiskFile): Promise<string[]> {
  const file = await openFile(path, 'write');
  try {
    const parts = await openParts(path, file, nodeAccess({}));
    const h = parts.header;
    if (h.refcountOrder !== WRITTEN_REFCOUNT_ORDER) throw new DiskImageError('UNSUPPORTED', `${path}: vdisk repairs 16-bit qcow2 refcounts only, not ${2 ** h.refcountOrder}-bit`, { path });
    const walk = await referenceWalk(parts);
    const broken = walk.findings.filter((f) => f.severity === 'corruption' || f.code === 'TOO_LARGE');
    if (broken.length > 0 || !walk.blocks) throw new DiskImageError('CORRUPT', `${path}: vdisk rebuilds qcow2 refcounts only, and this image's tables are damaged: ${broken.map((f) => f.message).join('; ')}`, { path });
    const dirty = hasBit(h.incompatible, INCOMPAT_DIRTY);
    const [leaks, low] = await differences(file, h, walk.blocks, walk.counts);
    if (leaks === 0 && low === 0 && !dirty) return [];
    const cs = h.clusterSize;
    const counts = walk.counts;
    // The old table and blocks are no longer referenced once the header names the new ones.
    for (let c = h.refcountTableOffset / cs; c < h.refcountTableOffset / cs + h.refcountTableClusters; c++) counts[c]!--;
    for (const at of walk.blocks) if (at !== 0) counts[at / cs]!--;
    const end = counts.length;
    const per = cs / WRITTEN_REFCOUNT_BYTES;
    const { blocks, tableClusters } = refcountCover(end, cs, (b) => Math.ceil((b * ENTRY_BYTES) / cs));
    const tableAt = end * cs;
    const table = new DataView(new ArrayBuffer(tableClusters * cs));
    for (let b = 0; b < blocks; b++) {
      const block = new DataView(new ArrayBuffer(cs));
      for (let i = 0; i < per; i++) {
        const c = b * per + i;
        const n = c < end ? counts[c]! : c < end + tableClusters + blocks ? 1 : 0;
        block.setUint16(i * WRITTEN_REFCOUNT_BYTES, n, false);
      }
      const at = tableAt + (tableClusters + b) * cs;
      await file.write(new Uint8Array(block.buffer), at);
      table.setBigUint64(b * ENTRY_BYTES, BigInt(at), false);
    }
    await file.write(new Uint8Array(table.buffer), tableAt);
    await file.sync();
    const head = new Uint8Array(SWITCH_END - REFCOUNT_TABLE_FIELDS_OFFSET);
    await file.read(head, REFCOUNT_TABLE_FIELDS_OFFSET);
    const view = new DataView(head.buffer);
    view.setBigUint64(0, BigInt(tableAt), false);
    view.setUint32(8, tableClusters, false);
    if (h.version === 3) view.setBigUint64(head.length - 8, h.incompatible & ~(1n << BigInt(INCOMPAT_DIRTY)), false);
    await file.write(h.version === 3 ? head : head.subarray(0, 12), REFCOUNT_TABLE_FIELDS_OFFSET);
    await file.sync();
    const out = [`rebuilt the refcount table and ${blocks} refcount block(s) at ${tableAt}: ${leaks} leaked cluster(s) freed, ${low} refcount(s) raised to their references`];
    if (dirty) out.push('cleared the dirty bit');
    return out;
  } finally {
    await file.close();
  }
}
