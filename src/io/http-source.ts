import { DiskImageError } from '../errors.js';
import type { ByteSource } from './byte-source.js';

/** Reads smaller than this are served from cached windows of this size, aligned to it. */
const WINDOW = 64 * 1024;
/** How many windows the cache keeps (least recently used goes first): 2 MiB. */
const MAX_WINDOWS = 32;
/** Time allowed for one request, body included. */
const TIMEOUT_MS = 60_000;

/** Reason phrases for replies that carry none (HTTP/2 has no status text). */
const REASONS: Record<number, string> = {
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  410: 'Gone',
  416: 'Range Not Satisfiable',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** True when `name` is an http: or https: URL rather than a file path. */
export function isUrl(name: string): boolean {
  return /^https?:\/\//i.test(name);
}

/**
 * An image read over HTTP(S) with Range requests, through the global fetch
 * only (so it also runs in a browser). Reads under 64 KiB, the metadata a
 * format looks up (headers, tables, sector bitmaps), come from a small LRU
 * cache of 64 KiB windows, each fetched once; larger reads are one request
 * each and bypass the cache, so bulk data is never fetched twice. HTTP cannot
 * tell holes, so there is no dataRanges.
 */
export class HttpSource implements ByteSource {
  private readonly windows = new Map<number, Promise<Uint8Array>>();

  private constructor(
    readonly path: string,
    readonly size: number,
  ) {}

  /**
   * Opens `url`: a HEAD request gives the size; a server that answers HEAD
   * with an error or no length, or does not announce `Accept-Ranges: bytes`,
   * is asked for byte 0 with a Range GET. `UNSUPPORTED` when the server
   * ignores ranges, `IO` when it fails or cannot be reached.
   */
  static async open(url: string): Promise<HttpSource> {
    const head = await send(url, 'HEAD', 'open');
    const length = head.ok ? parseSize(head.headers.get('content-length')) : undefined;
    if (length !== undefined && /\bbytes\b/i.test(head.headers.get('accept-ranges') ?? '')) return new HttpSource(url, length);
    const probe = await send(url, 'GET', 'open', { offset: 0, length: 1 });
    await discard(probe);
    if (probe.status === 200) throw unsupported(url);
    if (probe.status !== 206) throw httpError(url, probe, 'open');
    const size = parseContentRange(probe.headers.get('content-range'))?.total ?? length;
    if (size === undefined) throw new DiskImageError('IO', `${url}: the server tells neither Content-Length nor Content-Range, so the image size is unknown`, { path: url });
    return new HttpSource(url, size);
  }

  async read(buf: Uint8Array, offset: number): Promise<void> {
    if (offset < 0 || offset + buf.length > this.size) {
      throw new DiskImageError('CORRUPT', `${this.path}: read of ${buf.length} bytes at ${offset} ran past the end (${this.size} bytes)`, { offset });
    }
    if (buf.length === 0) return;
    if (buf.length >= WINDOW) {
      await fetchRange(this.path, offset, buf);
      return;
    }
    const end = offset + buf.length;
    const first = Math.floor(offset / WINDOW);
    const last = Math.floor((end - 1) / WINDOW);
    const parts = await Promise.all(first === last ? [this.window(first)] : [this.window(first), this.window(last)]);
    parts.forEach((data, i) => {
      const start = (first + i) * WINDOW;
      const from = Math.max(offset, start);
      const to = Math.min(end, start + data.length);
      buf.set(data.subarray(from - start, to - start), from - offset);
    });
  }

  /** Window `index`, from the cache or one shared fetch; a failed fetch is not kept. */
  private window(index: number): Promise<Uint8Array> {
    let data = this.windows.get(index);
    if (data) {
      this.windows.delete(index);
    } else {
      const start = index * WINDOW;
      data = fetchRange(this.path, start, new Uint8Array(Math.min(WINDOW, this.size - start)));
      data.catch(() => {
        if (this.windows.get(index) === data) this.windows.delete(index);
      });
    }
    this.windows.set(index, data);
    if (this.windows.size > MAX_WINDOWS) this.windows.delete(this.windows.keys().next().value!);
    return data;
  }

  async close(): Promise<void> {
    this.windows.clear();
  }
}

/** A wanted byte range, for the Range header and messages. */
interface Want {
  offset: number;
  length: number;
}

/** Fills `into` with the bytes at `offset` of `url` from one Range GET, checking the reply; resolves to `into`. */
async function fetchRange(url: string, offset: number, into: Uint8Array): Promise<Uint8Array> {
  const what = `read of ${into.length} bytes at ${offset}`;
  const res = await send(url, 'GET', what, { offset, length: into.length });
  if (res.status !== 206) {
    await discard(res);
    throw res.status === 200 ? unsupported(url) : httpError(url, res, what, offset);
  }
  // Content-Range is hidden from cross-origin browser code unless exposed; the body length check still holds then.
  const header = res.headers.get('content-range');
  const range = parseContentRange(header);
  if (header !== null && (range?.start !== offset || range.end !== offset + into.length - 1)) {
    await discard(res);
    throw new DiskImageError('IO', `${url}: ${what} was answered with Content-Range "${header}"`, { path: url, offset });
  }
  const reader = res.body!.getReader();
  let got = 0;
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      if (got + value.length > into.length) {
        await reader.cancel();
        throw new DiskImageError('IO', `${url}: ${what} was answered with more bytes than asked`, { path: url, offset });
      }
      into.set(value, got);
      got += value.length;
    }
  } catch (err) {
    throw transferError(err, url, what, offset);
  }
  if (got < into.length) {
    throw new DiskImageError('IO', `${url}: ${what} failed: the connection closed after ${got} bytes`, { path: url, offset, received: got });
  }
  return into;
}

/** One request with its timeout; network failures become `IO` errors naming `what`. */
async function send(url: string, method: 'HEAD' | 'GET', what: string, want?: Want): Promise<Response> {
  // Accept-Encoding keeps Node's fetch from asking for compression that would change the byte counts; browsers drop it and do the same.
  const headers: Record<string, string> = { 'accept-encoding': 'identity' };
  if (want) headers.range = `bytes=${want.offset}-${want.offset + want.length - 1}`;
  try {
    return await fetch(url, { method, headers, signal: AbortSignal.timeout(TIMEOUT_MS) });
  } catch (err) {
    throw transferError(err, url, what, want?.offset);
  }
}

/** Drops a reply's body unread (a 200 to a Range request may be the whole image). */
async function discard(res: Response): Promise<void> {
  await res.body?.cancel().catch(() => undefined);
}

/** The `UNSUPPORTED` error for a server that ignores Range requests. */
function unsupported(url: string): DiskImageError {
  return new DiskImageError('UNSUPPORTED', `${url}: the server does not support HTTP Range requests (needed to read an image over HTTP)`, { path: url });
}

/** The `IO` error for a 4xx/5xx (or other unexpected) reply. */
function httpError(url: string, res: Response, what: string, offset?: number): DiskImageError {
  const reason = res.statusText || REASONS[res.status] || 'error';
  return new DiskImageError('IO', `${url}: HTTP ${res.status} ${reason} on ${what}`, { path: url, status: res.status, offset });
}

/** The `IO` error for a request that failed in transit: refused, reset, dropped mid-body or timed out. */
function transferError(err: unknown, url: string, what: string, offset?: number): DiskImageError {
  if (err instanceof DiskImageError) return err;
  const e = err instanceof Error ? err : new Error(String(err));
  const cause = e.cause instanceof Error ? `: ${e.cause.message}` : '';
  const reason = e.name === 'TimeoutError' ? `no complete answer within ${TIMEOUT_MS / 1000} s` : `${e.message}${cause}`;
  return new DiskImageError('IO', `${url}: ${what} failed: ${reason}`, { path: url, offset });
}

/** A non-negative integer header value, or undefined. */
function parseSize(value: string | null): number | undefined {
  return value !== null && /^\d+$/.test(value.trim()) ? Number(value) : undefined;
}

/** The parts of `Content-Range: bytes START-END/TOTAL` (TOTAL may be `*`), or undefined. */
function parseContentRange(value: string | null): { start: number; end: number; total?: number } | undefined {
  const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/i.exec(value?.trim() ?? '');
  if (!m) return undefined;
  return { start: Number(m[1]), end: Number(m[2]), total: m[3] === '*' ? undefined : Number(m[3]) };
}
