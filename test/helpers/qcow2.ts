import { deflateRawSync } from 'node:zlib';

/** One scripted guest cluster: its data, 'zero' (v3 zero flag), or {deflate} (stored compressed, raw deflate). */
export type ClusterContent = Uint8Array | 'zero' | { deflate: Uint8Array };

/** What a scripted qcow2 image holds (test/formats/qcow2): guest clusters by index. */
export interface Qcow2Spec {
  /** Guest bytes. */
  size: number;
  /** Default 12 (4 KiB clusters). */
  clusterBits?: number;
  /** Default 3. */
  version?: 2 | 3;
  /** Guest cluster → what it holds. */
  clusters?: Map<number, ClusterContent>;
  /** Header extensions as [type, data], written after the header. */
  extensions?: [number, Uint8Array][];
  /** A backing file name, written after the extensions in the first cluster. */
  backing?: string;
  incompatible?: bigint;
}

/** Where the pieces of a scripted qcow2 are, in bytes, for tests that damage them. */
export interface Qcow2Layout {
  bytes: Buffer;
  clusterSize: number;
  refcountTable: number;
  refcountBlock: number;
  l1: number;
  /** L2 table offsets by L1 index. */
  l2: Map<number, number>;
  /** Host offsets of data clusters by guest cluster. */
  data: Map<number, number>;
}

/** Header field offsets ("Header" in qcow2.txt). */
export const QFIELD = { version: 4, backingOffset: 8, backingSize: 16, clusterBits: 20, size: 24, crypt: 32, l1Size: 36, l1Offset: 40, refcountTable: 48, refcountClusters: 56, nbSnapshots: 60, snapshotsOffset: 64, incompatible: 72, headerLength: 100 } as const;

/**
 * Builds a small qcow2 image: header (+ extensions, backing name) in cluster
 * 0, refcount table in 1, one refcount block in 2, the L1 table in 3, then
 * L2 tables and data clusters; every used cluster has refcount 1, standard
 * entries carry OFLAG_COPIED, as qemu writes them.
 */
export function buildQcow2(spec: Qcow2Spec): Qcow2Layout {
  const bits = spec.clusterBits ?? 12;
  const cs = 2 ** bits;
  const version = spec.version ?? 3;
  const perL2 = cs / 8;
  const l1Size = Math.ceil(spec.size / (cs * perL2));
  const clusters = [...(spec.clusters ?? new Map()).entries()].sort((a, b) => a[0] - b[0]);
  const l2 = new Map<number, number>();
  let next = 4 * cs;
  for (const [c] of clusters) {
    const i = Math.floor(c / perL2);
    if (!l2.has(i)) {
      l2.set(i, next);
      next += cs;
    }
  }
  const data = new Map<number, number>();
  const blobs: [number, Uint8Array][] = [];
  const entries: [number, bigint][] = [];
  for (const [c, v] of clusters) {
    if (v === 'zero') {
      entries.push([c, 1n]);
      continue;
    }
    const stored = v instanceof Uint8Array ? v : deflateRawSync(v.deflate);
    data.set(c, next);
    blobs.push([next, stored]);
    if (v instanceof Uint8Array) entries.push([c, (1n << 63n) | BigInt(next)]);
    else {
      const x = BigInt(62 - (bits - 8));
      const sectors = BigInt(Math.ceil(stored.length / 512) - 1);
      entries.push([c, (1n << 62n) | (sectors << x) | BigInt(next)]);
    }
    next += Math.ceil(stored.length / cs) * cs;
  }
  const bytes = Buffer.alloc(next);
  bytes.writeUInt32BE(0x514649fb, 0);
  bytes.writeUInt32BE(version, QFIELD.version);
  bytes.writeUInt32BE(bits, QFIELD.clusterBits);
  bytes.writeBigUInt64BE(BigInt(spec.size), QFIELD.size);
  bytes.writeUInt32BE(l1Size, QFIELD.l1Size);
  bytes.writeBigUInt64BE(BigInt(3 * cs), QFIELD.l1Offset);
  bytes.writeBigUInt64BE(BigInt(cs), QFIELD.refcountTable);
  bytes.writeUInt32BE(1, QFIELD.refcountClusters);
  let at = 72;
  if (version === 3) {
    bytes.writeBigUInt64BE(spec.incompatible ?? 0n, QFIELD.incompatible);
    bytes.writeUInt32BE(4, 96);
    bytes.writeUInt32BE(104, QFIELD.headerLength);
    at = 104;
  }
  for (const [type, ext] of spec.extensions ?? []) {
    bytes.writeUInt32BE(type, at);
    bytes.writeUInt32BE(ext.length, at + 4);
    bytes.set(ext, at + 8);
    at += 8 + Math.ceil(ext.length / 8) * 8;
  }
  at += 8;
  if (spec.backing) {
    bytes.writeBigUInt64BE(BigInt(at), QFIELD.backingOffset);
    bytes.writeUInt32BE(Buffer.byteLength(spec.backing), QFIELD.backingSize);
    bytes.write(spec.backing, at);
  }
  bytes.writeBigUInt64BE(BigInt(2 * cs), cs);
  for (let c = 0; c < next / cs; c++) bytes.writeUInt16BE(1, 2 * cs + 2 * c);
  for (const [i, off] of l2) bytes.writeBigUInt64BE((1n << 63n) | BigInt(off), 3 * cs + 8 * i);
  for (const [c, e] of entries) bytes.writeBigUInt64BE(e, l2.get(Math.floor(c / perL2))! + 8 * (c % perL2));
  for (const [off, b] of blobs) bytes.set(b, off);
  return { bytes, clusterSize: cs, refcountTable: cs, refcountBlock: 2 * cs, l1: 3 * cs, l2, data };
}

/** A cluster of `size` bytes filled with `value`. */
export function clusterOf(size: number, value: number): Uint8Array {
  return new Uint8Array(size).fill(value);
}
