import { DiskImageError } from '../../errors.js';
import { encodeStruct } from '../../util/struct.js';
import { EXT_BACKING_FORMAT, EXT_END, MAX_BACKING_NAME, QCOW2_MAGIC, V2_HEADER_SIZE, WRITTEN_V3_HEADER_LENGTH } from './constants.js';
import { HEADER_V2, HEADER_V3, type Qcow2Header } from './header.js';

/** A header extension as stored: its type and data ("Header extensions"). */
export interface RawExtension {
  type: number;
  data: Uint8Array;
}

/** The fields of a header vdisk writes: the parsed header's, plus the backing file and any extensions to keep. */
export interface HeaderToWrite {
  header: Qcow2Header;
  /** Backing file name and format ("Header", bytes 8-19; backing file format name extension). */
  backing?: { name: string; format?: string };
  /** Extensions other than the backing format to write, as found in the image. */
  keep?: RawExtension[];
}

/** The extensions of a header cluster as stored, from `start` (header_length) to the end marker (already checked by parseExtensions). */
export function rawExtensions(cluster: Uint8Array, start: number): RawExtension[] {
  const view = new DataView(cluster.buffer, cluster.byteOffset, cluster.length);
  const out: RawExtension[] = [];
  for (let at = start; at + 8 <= cluster.length; ) {
    const type = view.getUint32(at, false);
    const length = view.getUint32(at + 4, false);
    if (type === EXT_END) break;
    out.push({ type, data: cluster.slice(at + 8, at + 8 + length) });
    at += 8 + Math.ceil(length / 8) * 8;
  }
  return out;
}

/**
 * The first cluster of an image ("Header", "Header extensions"): the header
 * (version 2: 72 bytes; version 3: WRITTEN_V3_HEADER_LENGTH, compression
 * type zlib), the extensions kept, the backing file format extension, the
 * end marker, then the backing file name, which header bytes 8-19 point to.
 * Everything must fit in the cluster ("Header extensions": "must be stored
 * in the first cluster"); USAGE when it does not.
 */
export function encodeHeaderCluster(w: HeaderToWrite, clusterSize: number): Uint8Array {
  const h = w.header;
  const out = new Uint8Array(clusterSize);
  const headerLength = h.version === 3 ? WRITTEN_V3_HEADER_LENGTH : V2_HEADER_SIZE;
  const exts = [...(w.keep ?? []).filter((e) => e.type !== EXT_BACKING_FORMAT)];
  if (w.backing?.format) exts.push({ type: EXT_BACKING_FORMAT, data: Buffer.from(w.backing.format, 'utf8') });
  let at = headerLength;
  const view = new DataView(out.buffer);
  const room = (n: number): void => {
    if (at + n > clusterSize) throw new DiskImageError('USAGE', `the qcow2 header, its extensions and the backing file name do not fit in one ${clusterSize}-byte cluster`, { value: at + n });
  };
  for (const e of exts) {
    room(8 + Math.ceil(e.data.length / 8) * 8);
    view.setUint32(at, e.type, false);
    view.setUint32(at + 4, e.data.length, false);
    out.set(e.data, at + 8);
    at += 8 + Math.ceil(e.data.length / 8) * 8;
  }
  room(8);
  at += 8;
  const name = w.backing ? Buffer.from(w.backing.name, 'utf8') : undefined;
  if (name && name.length > MAX_BACKING_NAME) throw new DiskImageError('USAGE', `a qcow2 backing file name is at most ${MAX_BACKING_NAME} bytes, not ${name.length}`, { value: w.backing!.name });
  if (name) {
    room(name.length);
    out.set(name, at);
  }
  encodeStruct(
    HEADER_V2,
    {
      magic: QCOW2_MAGIC,
      version: h.version,
      backingFileOffset: name ? BigInt(at) : 0n,
      backingFileSize: name ? name.length : 0,
      clusterBits: h.clusterBits,
      size: BigInt(h.size),
      cryptMethod: 0,
      l1Size: h.l1Size,
      l1TableOffset: BigInt(h.l1TableOffset),
      refcountTableOffset: BigInt(h.refcountTableOffset),
      refcountTableClusters: h.refcountTableClusters,
      nbSnapshots: h.nbSnapshots,
      snapshotsOffset: BigInt(h.snapshotsOffset),
    },
    out,
  );
  if (h.version === 3) {
    encodeStruct(HEADER_V3, { incompatibleFeatures: h.incompatible, compatibleFeatures: h.compatible, autoclearFeatures: h.autoclear, refcountOrder: h.refcountOrder, headerLength }, out);
    out[headerLength - 8] = h.compressionType;
  }
  return out;
}

/** A big-endian u64, for rewriting one header field in place (feature bits: "Header", bytes 72-95). */
export function encodeU64(mask: bigint): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, mask, false);
  return out;
}
