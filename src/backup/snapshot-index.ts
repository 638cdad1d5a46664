import { DiskImageError } from '../errors.js';
import { parseSourceFiles, type SourceFiles } from './source-files.js';
import { CHUNK_SIZE, checkVersion, FORMAT_VERSION, intField, parseJsonObject, textField } from './layout.js';
import { BACKUP_MAX_INDEX_ENTRIES, BACKUP_MAX_JSON_BYTES, limitNote } from '../limits.js';

/**
 * A snapshot index (docs/backup.md, "Index objects"): "VDBKIDX1" (8 bytes),
 * the metadata's length (u32 LE), the metadata as UTF-8 JSON, then one
 * 32-byte SHA-256 per chunk in disk order, 32 zero bytes for an all-zero
 * chunk (never stored).
 */

const MAGIC = new TextEncoder().encode('VDBKIDX1');
const HEAD = 12;
const DIGEST_BYTES = 32;
const ZERO_HEX = '0'.repeat(64);

/** Bytes the largest valid index takes. */
export const MAX_INDEX_BYTES = HEAD + BACKUP_MAX_JSON_BYTES + BACKUP_MAX_INDEX_ENTRIES * DIGEST_BYTES;

/** What a snapshot records of its source and itself. */
export interface SnapshotMeta {
  /** Snapshot name (the series incremental backups compare within). */
  name: string;
  /** ISO 8601 UTC. */
  createdAt: string;
  /** Guest bytes of the disk. */
  diskSize: number;
  /** Plaintext bytes per chunk (CHUNK_SIZE). */
  chunkSize: number;
  /** The source image's format, as the registry named it. */
  sourceFormat: string;
  /** The source's UUID, when it has one. */
  uuid?: string;
  /** The source's subformat (dynamic, fixed, ...), when it has one. */
  subformat?: string;
  /** The source's disk adapter type (a VMDK's ddb.adapterType), when it has one; a restore to the source's format keeps it. */
  adapterType?: string;
  /** The files the guest view was read from, with their change stamps, when all were local regular files (source-files.ts). */
  source?: SourceFiles;
}

/** An index: its metadata and the SHA-256 (hex) of each chunk, or undefined for an all-zero chunk. */
export interface SnapshotIndex {
  meta: SnapshotMeta;
  chunks: (string | undefined)[];
}

/** Chunks a disk of `diskSize` bytes has. */
export function chunkCount(diskSize: number): number {
  return Math.ceil(diskSize / CHUNK_SIZE);
}

/** Plaintext bytes of chunk `i` of a disk of `diskSize` bytes. */
export function chunkLength(i: number, diskSize: number): number {
  return Math.min(CHUNK_SIZE, diskSize - i * CHUNK_SIZE);
}

/** The bytes of an index. */
export function encodeIndex(index: SnapshotIndex): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify({ version: FORMAT_VERSION, ...index.meta }));
  const out = new Uint8Array(HEAD + json.length + index.chunks.length * DIGEST_BYTES);
  out.set(MAGIC, 0);
  new DataView(out.buffer).setUint32(8, json.length, true);
  out.set(json, HEAD);
  index.chunks.forEach((digest, i) => {
    if (digest !== undefined) out.set(Buffer.from(digest, 'hex'), HEAD + json.length + i * DIGEST_BYTES);
  });
  return out;
}

/** Parses the index bytes `bytes` (named `what` in errors): every field and length is checked; anything off is CORRUPT, a newer version UNSUPPORTED. */
export function decodeIndex(bytes: Uint8Array, what: string): SnapshotIndex {
  if (bytes.length < HEAD || MAGIC.some((b, i) => bytes[i] !== b)) throw new DiskImageError('CORRUPT', `${what} is not a snapshot index`);
  const jsonLength = new DataView(bytes.buffer, bytes.byteOffset).getUint32(8, true);
  if (jsonLength > BACKUP_MAX_JSON_BYTES || HEAD + jsonLength > bytes.length) throw new DiskImageError('CORRUPT', `${what}: metadata length ${jsonLength} is past the index or over ${BACKUP_MAX_JSON_BYTES} (${limitNote('BACKUP_MAX_JSON_BYTES', BACKUP_MAX_JSON_BYTES)})`);
  const obj = parseJsonObject(bytes.subarray(HEAD, HEAD + jsonLength), what);
  checkVersion(obj, what);
  const chunkSize = intField(obj, 'chunkSize', Number.MAX_SAFE_INTEGER, what);
  if (chunkSize !== CHUNK_SIZE) throw new DiskImageError('CORRUPT', `${what}: chunk size ${chunkSize} is not ${CHUNK_SIZE}`);
  const diskSize = intField(obj, 'diskSize', BACKUP_MAX_INDEX_ENTRIES * CHUNK_SIZE, what);
  const count = chunkCount(diskSize);
  const table = bytes.subarray(HEAD + jsonLength);
  if (table.length !== count * DIGEST_BYTES) throw new DiskImageError('CORRUPT', `${what}: ${table.length} bytes of chunk digests, a ${diskSize}-byte disk needs ${count * DIGEST_BYTES}`);
  const meta: SnapshotMeta = {
    name: textField(obj, 'name', what),
    createdAt: textField(obj, 'createdAt', what),
    diskSize,
    chunkSize,
    sourceFormat: textField(obj, 'sourceFormat', what),
    ...(obj.uuid !== undefined && { uuid: textField(obj, 'uuid', what) }),
    ...(obj.subformat !== undefined && { subformat: textField(obj, 'subformat', what) }),
    ...(obj.adapterType !== undefined && { adapterType: textField(obj, 'adapterType', what) }),
    ...(obj.source !== undefined && { source: parseSourceFiles(obj.source, what) }),
  };
  const chunks: (string | undefined)[] = [];
  for (let i = 0; i < count; i++) {
    const hex = Buffer.from(table.subarray(i * DIGEST_BYTES, (i + 1) * DIGEST_BYTES)).toString('hex');
    chunks.push(hex === ZERO_HEX ? undefined : hex);
  }
  return { meta, chunks };
}
