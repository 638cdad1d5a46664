import { DiskImageError } from '../../errors.js';
import { Findings } from '../findings.js';
import type { Finding } from '../types.js';
import { ENTRY_BYTES, EXTENDED_ENTRY_BYTES, INCOMPAT_CORRUPT, INCOMPAT_DIRTY, INCOMPAT_EXTENDED_L2 } from './constants.js';
import { bigEndianU32s } from './cluster-map.js';
import { hasBit } from './header.js';
import { compressedExtent, isCompressed, isCopied, tableOffset } from './l2-entry.js';
import type { Qcow2Parts } from './parts.js';
import { blockEntries, decodeRefcounts, readRefcountTable, reference } from './refcounts.js';
import { bitmapDataClusters, readBitmapDirectory, type BitmapEntry } from './bitmaps.js';
import { limitNote, QCOW2_MAX_CHECKED_CLUSTERS } from '../../limits.js';

/** An OFLAG_COPIED bit to compare with the cluster's stored refcount once it is read. */
interface CopiedFlag {
  cluster: number;
  copied: boolean;
  what: string;
}

/** The state of one check: computed references, which clusters are metadata, findings. */
class Walk {
  readonly cs: number;
  readonly counts: Uint16Array;
  readonly metadata: Uint8Array;
  readonly copied: CopiedFlag[] = [];
  readonly out = new Findings();

  constructor(readonly parts: Qcow2Parts) {
    this.cs = parts.header.clusterSize;
    const n = Math.ceil(parts.file.size / this.cs);
    this.counts = new Uint16Array(n);
    this.metadata = new Uint8Array(n);
  }

  /** Checks where a structure of `bytes` at `at` lies: a cluster boundary (when `aligned`) inside the file. False (with a corruption) when not. */
  placed(at: number, bytes: number, what: string, aligned = true): boolean {
    if (aligned && at % this.cs !== 0) this.out.add('corruption', 'UNALIGNED', `${what} at ${at} is not a cluster boundary`);
    else if (at + bytes > this.parts.file.size) this.out.add('corruption', 'PAST_END', `${what} at ${at} (${bytes} bytes) runs past the end of the file (${this.parts.file.size} bytes)`);
    else return true;
    return false;
  }

  /** Counts one reference to each cluster of the metadata at [at, at+bytes) and marks them as metadata. */
  meta(at: number, bytes: number, what: string): boolean {
    if (bytes === 0 || !this.placed(at, bytes, what)) return false;
    const first = Math.floor(at / this.cs);
    const n = Math.ceil(bytes / this.cs);
    reference(this.counts, first, n);
    this.metadata.fill(1, first, first + n);
    return true;
  }

  /**
   * Counts a data reference to [at, at+bytes), which must not lie in
   * metadata. Only its start must lie in the file: qemu writes the last
   * cluster's bytes only as far as it has data.
   */
  data(at: number, bytes: number, what: string, aligned: boolean): void {
    if (!aligned && at < this.cs) this.out.add('corruption', 'IN_HEADER', `${what} at ${at} lies in the header cluster`);
    if (!this.placed(at, 1, what, aligned)) return;
    const first = Math.floor(at / this.cs);
    const n = Math.min(this.counts.length, Math.ceil((at + bytes) / this.cs)) - first;
    for (let c = first; c < first + n; c++) {
      if (this.metadata[c]) this.out.add('corruption', 'DATA_IN_METADATA', `${what} at ${at} points into metadata (cluster ${c})`);
    }
    reference(this.counts, first, n);
  }
}

/** Counts the bitmap directory, every bitmap table and the data clusters they point to ("Bitmaps"). */
async function bitmaps(w: Walk): Promise<void> {
  const ext = w.parts.extensions.bitmaps;
  if (!ext) return;
  let entries: BitmapEntry[];
  try {
    entries = await readBitmapDirectory(w.parts.file, ext, w.parts.budget);
  } catch (err) {
    if (!(err instanceof DiskImageError)) throw err;
    w.out.add('corruption', 'BITMAP_DIRECTORY', err.message);
    return;
  }
  w.meta(ext.directoryOffset, ext.directorySize, 'bitmap directory');
  for (const b of entries) {
    const what = `bitmap '${b.name}' table`;
    if (!w.meta(b.tableOffset, b.tableSize * ENTRY_BYTES, what)) continue;
    for (const at of await bitmapDataClusters(w.parts.file, b, w.parts.budget)) w.meta(at, w.cs, `data cluster of bitmap '${b.name}'`);
  }
}

/** The L1 tables to walk: the active one, then every snapshot's; counts their clusters. */
async function l1Tables(w: Walk): Promise<{ offset: number; size: number; name: string; active: boolean }[]> {
  const h = w.parts.header;
  const tables = [{ offset: h.l1TableOffset, size: h.l1Size, name: 'active L1 table', active: true }];
  if (h.nbSnapshots > 0) {
    w.meta(h.snapshotsOffset, w.parts.snapshotTableBytes, 'snapshot table');
    for (const s of w.parts.snapshots) tables.push({ offset: s.l1Offset, size: s.l1Size, name: `snapshot ${s.id} L1 table`, active: false });
  }
  return tables.filter((t) => w.meta(t.offset, t.size * ENTRY_BYTES, t.name));
}

/** Every L2 table the L1 tables point to (checked, counted as metadata), with whether it is reachable from the active L1. Each L1 table is charged to the image's budget while it is read. */
async function l2Tables(w: Walk): Promise<{ at: number; active: boolean; name: string }[]> {
  const out: { at: number; active: boolean; name: string }[] = [];
  for (const t of await l1Tables(w)) {
    w.parts.budget.charge(t.size * ENTRY_BYTES, `qcow2 ${t.name}`);
    const buf = new Uint8Array(t.size * ENTRY_BYTES);
    await w.parts.file.read(buf, t.offset);
    const words = bigEndianU32s(buf);
    for (let i = 0; i < t.size; i++) {
      const at = tableOffset(words[2 * i]!, words[2 * i + 1]!);
      if (at === 0) continue;
      const name = `L2 table of ${t.name}[${i}]`;
      if (at < w.cs) w.out.add('corruption', 'IN_HEADER', `${name} at ${at} lies in the header cluster`);
      else if (w.meta(at, w.cs, name)) out.push({ at, active: t.active, name });
      if (t.active) w.copied.push({ cluster: Math.floor(at / w.cs), copied: isCopied(words[2 * i]!), what: name });
    }
    w.parts.budget.release(t.size * ENTRY_BYTES);
  }
  return out;
}

/** Walks the entries of every L2 table: checks and counts the clusters they point to. */
async function walkData(w: Walk, tables: { at: number; active: boolean; name: string }[]): Promise<void> {
  const h = w.parts.header;
  const extended = hasBit(h.incompatible, INCOMPAT_EXTENDED_L2);
  const step = (extended ? EXTENDED_ENTRY_BYTES : ENTRY_BYTES) / 4;
  const external = w.parts.dataFile !== undefined;
  const buf = new Uint8Array(w.cs);
  for (const t of tables) {
    await w.parts.file.read(buf, t.at);
    const words = bigEndianU32s(buf);
    for (let j = 0; j < words.length; j += step) {
      const hi = words[j]!;
      const lo = words[j + 1]!;
      const what = `cluster of ${t.name} entry ${j / step}`;
      if (isCompressed(hi)) {
        const e = compressedExtent(hi, lo, h.clusterBits);
        if (isCopied(hi)) w.out.add('corruption', 'COPIED_COMPRESSED', `compressed ${what} has OFLAG_COPIED set`);
        w.data(e.host, e.storedLength, `compressed ${what}`, false);
        continue;
      }
      const host = tableOffset(hi, lo);
      if (host === 0 || external) continue;
      w.data(host, w.cs, what, true);
      if (t.active) w.copied.push({ cluster: Math.floor(host / w.cs), copied: isCopied(hi), what });
    }
  }
}

/** Reads the stored refcounts and compares them with the references counted, and the OFLAG_COPIED bits with them. */
async function compareRefcounts(w: Walk, blocks: number[]): Promise<void> {
  const h = w.parts.header;
  const per = blockEntries(h);
  const stored = new Uint16Array(w.counts.length);
  const buf = new Uint8Array(w.cs);
  for (const [i, at] of blocks.entries()) {
    if (at === 0 || i * per >= stored.length || at + w.cs > w.parts.file.size || at % w.cs !== 0) continue;
    await w.parts.file.read(buf, at);
    stored.set(decodeRefcounts(buf, h.refcountOrder).subarray(0, stored.length - i * per), i * per);
  }
  let leaks = 0;
  for (let c = 0; c < stored.length; c++) {
    const has = stored[c]!;
    const refs = w.counts[c]!;
    if (has === refs) continue;
    if (has > refs) {
      leaks++;
      w.out.add('leak', 'LEAKED_CLUSTER', `cluster ${c} has refcount ${has} but ${refs} references`);
    } else w.out.add('corruption', 'REFCOUNT_MISMATCH', `cluster ${c} has refcount ${has} but ${refs} references`);
  }
  if (leaks > 0) w.out.add('leak', 'LEAKS', `${leaks} leaked clusters`);
  for (const f of w.copied) {
    if (f.cluster < stored.length && f.copied !== (stored[f.cluster] === 1)) {
      w.out.add('corruption', 'OFLAG_COPIED', `${f.what}: OFLAG_COPIED is ${f.copied ? 'set' : 'clear'} but the refcount is ${stored[f.cluster]}`);
    }
  }
}

/** The references counted by walking an image's structures, and the refcount blocks it names. */
export interface ReferenceWalk {
  /** References to each cluster of the file (saturated at 65535). */
  counts: Uint16Array;
  /** The refcount table's entries; undefined when it could not be read (a finding says why). */
  blocks?: number[];
  /** Structural findings of the walk (refcounts not compared yet). */
  findings: Finding[];
}

/**
 * Walks every structure of the image ("Host cluster management", "Cluster
 * mapping") and counts the references to each cluster: header, encryption
 * header, refcount table and blocks, snapshot table, L1 and L2 tables, data
 * and compressed clusters, the bitmap directory, tables and data. Entries
 * past the end, unaligned, in the header or in metadata are corruption.
 */
async function walkImage(parts: Qcow2Parts): Promise<{ w: Walk; blocks?: number[] }> {
  const h = parts.header;
  const w = new Walk(parts);
  if (hasBit(h.incompatible, INCOMPAT_DIRTY)) w.out.add('warning', 'DIRTY', 'the dirty bit is set: refcounts may be stale until qemu repairs them');
  if (hasBit(h.incompatible, INCOMPAT_CORRUPT)) w.out.add('warning', 'CORRUPT_BIT', 'the corrupt bit is set');
  if (w.counts.length > QCOW2_MAX_CHECKED_CLUSTERS) {
    w.out.add('warning', 'TOO_LARGE', `${w.counts.length} clusters: more than the ${QCOW2_MAX_CHECKED_CLUSTERS} vdisk checks (${limitNote('QCOW2_MAX_CHECKED_CLUSTERS', QCOW2_MAX_CHECKED_CLUSTERS)})`);
    return { w };
  }
  w.meta(0, w.cs, 'header');
  if (parts.extensions.fde) w.meta(parts.extensions.fde.offset, parts.extensions.fde.length, 'encryption header');
  let blocks: number[];
  try {
    blocks = await readRefcountTable(parts.file, h, parts.budget);
  } catch (err) {
    if (!(err instanceof DiskImageError)) throw err;
    w.out.add('corruption', 'REFCOUNT_TABLE', err.message);
    return { w };
  }
  w.meta(h.refcountTableOffset, h.refcountTableClusters * w.cs, 'refcount table');
  for (const [i, at] of blocks.entries()) if (at !== 0) w.meta(at, w.cs, `refcount block ${i}`);
  await bitmaps(w);
  await walkData(w, await l2Tables(w));
  return { w, blocks };
}

/** The references of every cluster and the structural findings, for `check --repair` to rebuild refcounts from. */
export async function referenceWalk(parts: Qcow2Parts): Promise<ReferenceWalk> {
  const { w, blocks } = await parts.budget.transient(() => walkImage(parts));
  return { counts: w.counts, blocks, findings: w.out.done() };
}

/**
 * Read-only check of a qcow2 image, as `qemu-img check` does it: walks the
 * references (walkImage) and compares them with the stored refcounts. More
 * references than the refcount is corruption; fewer is a leak. OFLAG_COPIED
 * bits that disagree with a refcount of one are corruption. The tables it
 * reads are charged to the image's metadata budget until it ends.
 */
export function checkQcow2(parts: Qcow2Parts): Promise<Finding[]> {
  return parts.budget.transient(async () => {
    const { w, blocks } = await walkImage(parts);
    if (blocks && w.counts.length <= QCOW2_MAX_CHECKED_CLUSTERS) await compareRefcounts(w, blocks);
    return w.out.done();
  });
}
