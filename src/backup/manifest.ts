import { DiskImageError } from '../errors.js';
import { checkName, checkVersion, FORMAT_VERSION, intField, isDigest, CHUNK_SIZE, parseJsonObject, textField } from './layout.js';
import { BACKUP_MAX_INDEX_ENTRIES } from '../limits.js';

/** What one backup did, in chunks and bytes. */
export interface BackupCounts {
  /** Chunks of the disk. */
  total: number;
  /** Chunks stored by this backup. */
  new: number;
  /** Data chunks already in the repository. */
  reused: number;
  /** All-zero chunks (never stored). */
  zero: number;
  /** Bytes of the chunk objects this backup stored. */
  storedBytes: number;
}

/**
 * A snapshot manifest (docs/backup.md, "Snapshot manifests"): the small
 * JSON object `snapshots/ID.json` whose existence publishes a snapshot. It
 * names its index by SHA-256 and repeats what `backup list` shows.
 */
export interface Manifest {
  id: string;
  name: string;
  createdAt: string;
  diskSize: number;
  sourceFormat: string;
  /** SHA-256 (hex) of the index object's bytes. */
  index: string;
  counts: BackupCounts;
}

/** The bytes of a manifest. */
export function encodeManifest(m: Manifest): Uint8Array {
  return new TextEncoder().encode(`${JSON.stringify({ version: FORMAT_VERSION, ...m }, null, 2)}\n`);
}

/** Parses manifest bytes (named `what` in errors); anything off is CORRUPT, a newer version UNSUPPORTED. */
export function decodeManifest(bytes: Uint8Array, what: string): Manifest {
  const obj = parseJsonObject(bytes, what);
  checkVersion(obj, what);
  if (!isDigest(obj.index)) throw new DiskImageError('CORRUPT', `${what}: index is not a SHA-256 digest`);
  const counts = obj.counts;
  if (typeof counts !== 'object' || counts === null || Array.isArray(counts)) throw new DiskImageError('CORRUPT', `${what}: counts is missing`);
  const c = counts as Record<string, unknown>;
  const id = textField(obj, 'id', what);
  try {
    checkName(id, 'snapshot ID');
  } catch {
    throw new DiskImageError('CORRUPT', `${what}: id is not a valid snapshot ID`);
  }
  return {
    id,
    name: textField(obj, 'name', what),
    createdAt: textField(obj, 'createdAt', what),
    diskSize: intField(obj, 'diskSize', BACKUP_MAX_INDEX_ENTRIES * CHUNK_SIZE, what),
    sourceFormat: textField(obj, 'sourceFormat', what),
    index: obj.index,
    counts: {
      total: intField(c, 'total', BACKUP_MAX_INDEX_ENTRIES, what),
      new: intField(c, 'new', BACKUP_MAX_INDEX_ENTRIES, what),
      reused: intField(c, 'reused', BACKUP_MAX_INDEX_ENTRIES, what),
      zero: intField(c, 'zero', BACKUP_MAX_INDEX_ENTRIES, what),
      storedBytes: intField(c, 'storedBytes', Number.MAX_SAFE_INTEGER, what),
    },
  };
}
