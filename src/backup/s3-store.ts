import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { AwsClient } from 'aws4fetch';
import { DiskImageError } from '../errors.js';
import type { ObjectStore, StoredObject } from './object-store.js';
import type { S3Config } from './s3-config.js';
import { parseListPage, xmlField, type ListPage } from './s3-xml.js';
import { BACKUP_MAX_XML_BYTES, limitNote } from '../limits.js';

/** Limits of an S3Store's requests; the defaults suit a backup, tests shrink them. */
export interface S3Tuning {
  /** Keys per ListObjectsV2 page (S3's maximum, 1000, by default). */
  maxKeys?: number;
  /** Each attempt of a request is abandoned after this long (default 120 s: a 4 MiB chunk at 35 KB/s). */
  timeoutMs?: number;
  /** Attempts after the first for a 5xx, 429 (SlowDown), timeout or network failure (default 4). */
  retries?: number;
  /** The first retry's delay; each later one doubles it (default 100 ms). */
  backoffMs?: number;
}

/** One S3 request: method, object key (none for the bucket), query, headers and body. */
interface Call {
  method: 'GET' | 'HEAD' | 'PUT' | 'DELETE';
  key?: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: Uint8Array;
}


/** Thrown by a response handler to have the request retried, saying why. */
class Retry extends Error {}

/** Percent-encodes a key segment or query value as SigV4 canonicalizes it (RFC 3986 unreserved characters kept). */
function encodePart(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** Reads a response's body, refusing (unread past the limit) one larger than `max` bytes via `tooLarge`. */
async function readBody(res: Response, max: number, tooLarge: (size: number) => Error): Promise<Uint8Array> {
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (declared > max) {
    await res.body?.cancel();
    throw tooLarge(declared);
  }
  const parts: Uint8Array[] = [];
  let total = 0;
  for await (const part of res.body ?? []) {
    total += (part as Uint8Array).length;
    if (total > max) throw tooLarge(total);
    parts.push(part as Uint8Array);
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** What a failed fetch says: the system error code or the timeout, for a one-line message. */
function describeFailure(err: unknown, timeoutMs: number): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError') return `no answer within ${timeoutMs / 1000} s`;
  if (e instanceof Retry) return e.message;
  return e?.cause?.code ?? e?.cause?.message ?? e?.message ?? String(err);
}

/**
 * An ObjectStore in an S3 bucket under a key prefix (docs/backup.md, "S3"),
 * over any S3-compatible endpoint, path-style (ENDPOINT/BUCKET/KEY), each
 * request signed with SigV4 by aws4fetch and its payload's SHA-256 sent
 * (the server checks it). create is a PUT with `If-None-Match: *` (412:
 * it exists), get a GET checked against its Content-Length before the body
 * is read, exists a HEAD, list and listTree ListObjectsV2 (with and without
 * the '/' delimiter), delete a DELETE. 5xx, 429, timeouts and network
 * failures are retried with exponential backoff, never other 4xx; every
 * failure is one coded line: USAGE for credentials, a missing bucket or a
 * wrong region, IO for the rest.
 */
export class S3Store implements ObjectStore {
  readonly location: string;
  private readonly client: AwsClient;
  private readonly maxKeys: number;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly backoffMs: number;

  /** A store for `s3://bucket/prefix` (prefix empty or ending with '/'). */
  constructor(
    private readonly config: S3Config,
    private readonly bucket: string,
    private readonly prefix: string,
    tuning: S3Tuning = {},
  ) {
    this.location = `s3://${bucket}/${prefix}`.replace(/\/$/, '');
    this.client = new AwsClient({ accessKeyId: config.accessKeyId, secretAccessKey: config.secretAccessKey, sessionToken: config.sessionToken, service: 's3', region: config.region, retries: 0 });
    this.maxKeys = tuning.maxKeys ?? 1000;
    this.timeoutMs = tuning.timeoutMs ?? 120_000;
    this.retries = tuning.retries ?? 4;
    this.backoffMs = tuning.backoffMs ?? 100;
  }

  async create(name: string, data: Uint8Array): Promise<boolean> {
    const headers = { 'if-none-match': '*', 'x-amz-content-sha256': createHash('sha256').update(data).digest('hex') };
    return this.request({ method: 'PUT', key: this.prefix + name, headers, body: data }, async (res, attempt) => {
      const xml = await this.errorText(res);
      if (res.ok) return true;
      // On a retry, the attempt that failed may have stored the object: it is ours when it holds our bytes.
      if (res.status === 412) return attempt > 0 && (await this.holds(name, data));
      // AWS answers a create racing another on the same name so, asking for a retry.
      if (xmlField(xml, 'Code') === 'ConditionalRequestConflict') throw new Retry('409 ConditionalRequestConflict');
      throw this.failure(res, xml, name);
    });
  }

  async get(name: string, maxBytes: number): Promise<Uint8Array | undefined> {
    return this.request({ method: 'GET', key: this.prefix + name }, async (res) => {
      if (res.ok) return readBody(res, maxBytes, (size) => new DiskImageError('CORRUPT', `${this.location}/${name} is ${size} bytes, more than the ${maxBytes} such an object can hold`, { path: `${this.location}/${name}` }));
      const xml = await this.errorText(res);
      if (res.status === 404 && xmlField(xml, 'Code') !== 'NoSuchBucket') return undefined;
      throw this.failure(res, xml, name);
    });
  }

  async exists(name: string): Promise<boolean> {
    return this.request({ method: 'HEAD', key: this.prefix + name }, async (res) => {
      if (res.ok || res.status === 404) return res.ok;
      throw this.failure(res, undefined, name);
    });
  }

  async list(prefix: string): Promise<string[]> {
    const names: string[] = [];
    for await (const page of this.pages(prefix, true)) for (const o of page.objects) names.push(o.key.slice(this.prefix.length));
    return names.sort();
  }

  async *listTree(prefix: string): AsyncIterable<StoredObject> {
    for await (const page of this.pages(prefix, false)) for (const o of page.objects) yield { name: o.key.slice(this.prefix.length), size: o.size, modifiedMs: o.modifiedMs };
  }

  async delete(name: string): Promise<void> {
    await this.request({ method: 'DELETE', key: this.prefix + name }, async (res) => {
      const xml = await this.errorText(res);
      if (!res.ok && res.status !== 404) throw this.failure(res, xml, name);
    });
  }

  /** True when object `name` holds exactly `data` (a larger one does not, and is not read). */
  private async holds(name: string, data: Uint8Array): Promise<boolean> {
    try {
      const stored = await this.get(name, data.length);
      return stored !== undefined && Buffer.from(data).equals(stored);
    } catch (err) {
      if (err instanceof DiskImageError && err.code === 'CORRUPT') return false;
      throw err;
    }
  }

  /** Creates the bucket when it does not exist (init); one of the same owner is fine, another's is USAGE. */
  async createBucket(): Promise<void> {
    const region = this.config.region;
    const body = region === 'us-east-1' ? undefined : new TextEncoder().encode(`<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><LocationConstraint>${region}</LocationConstraint></CreateBucketConfiguration>`);
    const headers = { 'x-amz-content-sha256': createHash('sha256').update(body ?? new Uint8Array()).digest('hex') };
    await this.request({ method: 'PUT', headers, body }, async (res) => {
      const xml = await this.errorText(res);
      if (res.ok || xmlField(xml, 'Code') === 'BucketAlreadyOwnedByYou') return;
      if (xmlField(xml, 'Code') === 'BucketAlreadyExists') throw new DiskImageError('USAGE', `bucket ${this.bucket} belongs to another account; choose another bucket name`, { path: this.location });
      throw this.failure(res, xml, '');
    });
  }

  /** The pages of a ListObjectsV2 of the keys under `prefix` (relative to the store's), direct children only with `delimited`. */
  private async *pages(prefix: string, delimited: boolean): AsyncIterable<ListPage> {
    let token: string | undefined;
    do {
      const query: Record<string, string> = { 'list-type': '2', prefix: this.prefix + prefix, 'max-keys': String(this.maxKeys), 'encoding-type': 'url' };
      if (delimited) query.delimiter = '/';
      if (token) query['continuation-token'] = token;
      const page = await this.request({ method: 'GET', query }, async (res) => {
        const xml = await this.errorText(res);
        if (!res.ok) throw this.failure(res, xml, prefix);
        return parseListPage(xml, this.location);
      });
      yield page;
      token = page.next;
    } while (token);
  }

  /** The body of a response as text (an error document or a listing), at most BACKUP_MAX_XML_BYTES. */
  private async errorText(res: Response): Promise<string> {
    const bytes = await readBody(res, BACKUP_MAX_XML_BYTES, (size) => new DiskImageError('IO', `${this.location}: an answer of ${size} bytes from ${this.config.endpoint} is too large (${limitNote('BACKUP_MAX_XML_BYTES', BACKUP_MAX_XML_BYTES)})`));
    return new TextDecoder().decode(bytes);
  }

  /** The one-line error for an S3 error response to a request about `name` (with its XML error document when it had one). */
  private failure(res: Response, xml: string | undefined, name: string): DiskImageError {
    const code = (xml && xmlField(xml, 'Code')) || res.statusText;
    const what = `${this.location}${name ? `/${name}` : ''}`;
    const details = { path: what, status: res.status, s3Code: code };
    if (res.status === 403) return new DiskImageError('USAGE', `${what}: access denied (${res.status} ${code}); check the credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or the AWS_PROFILE profile) and the bucket's permissions`, details);
    if (code === 'NoSuchBucket') return new DiskImageError('USAGE', `bucket ${this.bucket} does not exist at ${this.config.endpoint} (vdisk backup init creates it; --endpoint or AWS_ENDPOINT_URL_S3 picks the server)`, details);
    if (res.status >= 300 && res.status < 400) return new DiskImageError('USAGE', `${what}: the bucket is not served at ${this.config.endpoint} (${res.status} ${code}); set AWS_REGION to the bucket's region, or --endpoint`, details);
    const message = xml ? xmlField(xml, 'Message') : undefined;
    return new DiskImageError('IO', `${what}: ${res.status} ${code}${message ? `: ${message}` : ''}`, details);
  }

  /**
   * Sends `call`, signed, and gives the answer to `handle` (with the number
   * of the attempt, 0 for the first); retries 5xx and 429 answers, timeouts,
   * network failures and a handler's Retry, up to `retries` times with
   * exponential backoff; a DiskImageError from the handler ends it.
   */
  private async request<T>(call: Call, handle: (res: Response, attempt: number) => Promise<T>): Promise<T> {
    const path = call.key === undefined ? '' : `/${call.key.split('/').map(encodePart).join('/')}`;
    const query = Object.entries(call.query ?? {}).map(([k, v]) => `${encodePart(k)}=${encodePart(v)}`);
    const url = `${this.config.endpoint}/${this.bucket}${path}${query.length ? `?${query.join('&')}` : ''}`;
    for (let attempt = 0; ; attempt++) {
      let why: string;
      try {
        const signal = AbortSignal.timeout(this.timeoutMs);
        const req = await this.client.sign(url, { method: call.method, headers: call.headers, body: call.body, signal, redirect: 'manual' });
        const res = await fetch(req);
        if (res.status < 500 && res.status !== 429) return await handle(res, attempt);
        why = `${res.status} ${xmlField(await this.errorText(res), 'Code') ?? res.statusText}`;
      } catch (err) {
        if (err instanceof DiskImageError) throw err;
        why = describeFailure(err, this.timeoutMs);
      }
      if (attempt >= this.retries) throw new DiskImageError('IO', `${call.method} ${url}: ${why} (${attempt + 1} attempts)`, { path: url });
      await sleep(this.backoffMs * 2 ** attempt * (0.5 + Math.random() / 2));
    }
  }
}
