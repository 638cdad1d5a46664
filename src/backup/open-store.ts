import { mkdir } from 'node:fs/promises';
import { DiskImageError, ioError } from '../errors.js';
import { DirStore } from './dir-store.js';
import type { ObjectStore } from './object-store.js';
import { resolveS3Config, type Env } from './s3-config.js';
import { S3Store, type S3Tuning } from './s3-store.js';

/** How to reach a repository's storage besides its location: the S3 endpoint (--endpoint), and for tests the environment and request limits. */
export interface StoreOptions {
  /** The S3 endpoint URL (--endpoint); only for s3:// locations. */
  endpoint?: string;
  /** Where credentials and settings are read from (default process.env). */
  env?: Env;
  /** Request limits of an S3 store. */
  tuning?: S3Tuning;
  /** Wraps the store opened, for instrumentation (the power-cut test records every write through it). */
  observe?: (store: ObjectStore) => ObjectStore;
}

/** S3's bucket naming rule: 3 to 63 lower-case letters, digits, dots and hyphens, starting and ending with a letter or digit. */
const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/**
 * The bucket and key prefix of `s3://BUCKET[/PREFIX]`; the prefix is empty
 * or ends with '/' (a trailing '/' in the URL changes nothing). USAGE for a
 * bad bucket name or an empty, `.` or `..` prefix segment.
 */
export function parseS3Location(location: string): { bucket: string; prefix: string } {
  const rest = location.slice('s3://'.length);
  const slash = rest.indexOf('/');
  const bucket = slash < 0 ? rest : rest.slice(0, slash);
  if (!BUCKET_NAME.test(bucket)) throw new DiskImageError('USAGE', `${location}: '${bucket}' is not an S3 bucket name (3 to 63 of a-z, 0-9, '.' and '-'); the form is s3://BUCKET/PREFIX`);
  const path = slash < 0 ? '' : rest.slice(slash + 1).replace(/\/+$/, '');
  const segments = path === '' ? [] : path.split('/');
  if (segments.some((s) => s === '' || s === '.' || s === '..')) throw new DiskImageError('USAGE', `${location}: the prefix must not have empty, '.' or '..' parts`);
  return { bucket, prefix: segments.map((s) => `${s}/`).join('') };
}

/**
 * The store at `location`: `s3://BUCKET/PREFIX` is an S3Store (endpoint and
 * credentials resolved as docs/backup.md says), anything else a DirStore
 * (the directory). With `create` (backup init), the directory or the bucket
 * is created when missing.
 */
export async function openStore(location: string, opts: StoreOptions = {}, create = false): Promise<ObjectStore> {
  const store = await openPlainStore(location, opts, create);
  return opts.observe ? opts.observe(store) : store;
}

/** The store at `location`, as openStore opens it before `observe`. */
async function openPlainStore(location: string, opts: StoreOptions, create: boolean): Promise<ObjectStore> {
  if (location.startsWith('s3://')) {
    const { bucket, prefix } = parseS3Location(location);
    const store = new S3Store(resolveS3Config(opts.endpoint, opts.env), bucket, prefix, opts.tuning);
    if (create) await store.createBucket();
    return store;
  }
  if (opts.endpoint !== undefined) throw new DiskImageError('USAGE', `--endpoint is for s3:// repositories; ${location} is a directory`);
  if (create) await mkdir(location, { recursive: true }).catch((err: unknown) => Promise.reject(ioError(err, location, 'create')));
  return new DirStore(location);
}
