import { DiskImageError } from '../errors.js';

/**
 * The repository layout, version 1 (docs/backup.md): object names and the
 * limits every reader checks before it allocates.
 */

/** Format version of the repository, its config, indexes and snapshot manifests. */
export const FORMAT_VERSION = 1;

/** The config object that marks a directory as a repository. */
export const CONFIG_NAME = 'vdisk-backup.json';

/** Plaintext bytes per chunk (the last chunk of a disk is shorter). */
export const CHUNK_SIZE = 4 * 1024 * 1024;



/** Folder of the snapshot manifests. */
export const SNAPSHOTS = 'snapshots/';

/** A SHA-256 digest as 64 lower-case hex digits. */
const DIGEST = /^[0-9a-f]{64}$/;

/** Snapshot names and IDs: letters, digits, dot, dash, underscore; not starting with a dot. */
const NAME = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}$/;

/** The object name of a content-addressed object under `folder` (chunks, indexes), fanned out by the digest's first two hex digits. */
function fannedOut(folder: string, digest: string): string {
  if (!DIGEST.test(digest)) throw new DiskImageError('CORRUPT', `'${digest.slice(0, 80)}' is not a SHA-256 digest`);
  return `${folder}/${digest.slice(0, 2)}/${digest}`;
}

/** The object name of the chunk whose plaintext has SHA-256 `digest`. */
export function chunkName(digest: string): string {
  return fannedOut('chunks', digest);
}

/** The object name of the snapshot index whose bytes have SHA-256 `digest`. */
export function indexName(digest: string): string {
  return fannedOut('indexes', digest);
}

/** The object name of snapshot `id`'s manifest. */
export function manifestName(id: string): string {
  return `${SNAPSHOTS}${checkName(id, 'snapshot ID')}.json`;
}

/** Returns `name` when it is a valid snapshot name or ID; USAGE otherwise. */
export function checkName(name: string, what: string): string {
  if (!NAME.test(name)) throw new DiskImageError('USAGE', `${what} '${name.slice(0, 100)}' must be 1-100 letters, digits, '.', '-' or '_', not starting with '.'`);
  return name;
}

/** True when `text` is a digest as object names use them. */
export function isDigest(text: unknown): text is string {
  return typeof text === 'string' && DIGEST.test(text);
}

/** Parses a JSON object read from `what`; anything else is CORRUPT. */
export function parseJsonObject(bytes: Uint8Array, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw new DiskImageError('CORRUPT', `${what} is not valid JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new DiskImageError('CORRUPT', `${what} is not a JSON object`);
  return value as Record<string, unknown>;
}

/** `obj[key]` when it is a non-negative safe integer at most `max`; CORRUPT otherwise. */
export function intField(obj: Record<string, unknown>, key: string, max: number, what: string): number {
  const v = obj[key];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > max) throw new DiskImageError('CORRUPT', `${what}: ${key} is ${JSON.stringify(v)?.slice(0, 40)}, not an integer from 0 to ${max}`);
  return v;
}

/** `obj[key]` when it is a string of at most 1000 characters; CORRUPT otherwise. */
export function textField(obj: Record<string, unknown>, key: string, what: string): string {
  const v = obj[key];
  if (typeof v !== 'string' || v.length > 1000) throw new DiskImageError('CORRUPT', `${what}: ${key} is missing or not a string`);
  return v;
}

/** Checks a parsed object's `version` is FORMAT_VERSION: a newer one is UNSUPPORTED, anything else CORRUPT. */
export function checkVersion(obj: Record<string, unknown>, what: string): void {
  const v = obj.version;
  if (v === FORMAT_VERSION) return;
  if (typeof v === 'number' && Number.isInteger(v) && v > FORMAT_VERSION) throw new DiskImageError('UNSUPPORTED', `${what} is format version ${v}; this vdisk reads version ${FORMAT_VERSION}`);
  throw new DiskImageError('CORRUPT', `${what} has no valid format version`);
}
