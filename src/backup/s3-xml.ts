import { DiskImageError } from '../errors.js';

/** One page of a ListObjectsV2 answer. */
export interface ListPage {
  /** The objects: full keys (decoded), sizes and last-modified times. */
  objects: { key: string; size: number; modifiedMs: number }[];
  /** The common prefixes (with a delimiter), decoded. */
  prefixes: string[];
  /** The token of the next page, when the answer is truncated. */
  next?: string;
}

/** The named XML entities; numeric ones are decoded too. */
const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** Decodes the XML entities and character references of element text. */
export function decodeXmlText(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);/g, (whole, ref: string) => {
    if (!ref.startsWith('#')) return ENTITIES[ref] ?? whole;
    const code = ref.startsWith('#x') ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
    return code <= 0x10ffff ? String.fromCodePoint(code) : whole;
  });
}

/** The text of every `<tag>…</tag>` element directly in `xml` (no attributes, not nested in itself), in order. */
function elements(xml: string, tag: string): string[] {
  const out: string[] = [];
  const re = new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, 'g');
  for (let m = re.exec(xml); m; m = re.exec(xml)) out.push(m[1]!);
  return out;
}

/** The decoded text of the first `<tag>` element, if any. */
export function xmlField(xml: string, tag: string): string | undefined {
  const text = elements(xml, tag)[0];
  return text === undefined ? undefined : decodeXmlText(text);
}

/** A key or prefix of a listing asked for with encoding-type=url: XML text, then URL-decoded ('+' is a space, as S3 encodes it). */
function decodeKey(text: string, what: string): string {
  try {
    return decodeURIComponent(decodeXmlText(text).replace(/\+/g, ' '));
  } catch {
    throw new DiskImageError('CORRUPT', `${what}: key '${text}' of a listing is not URL-encoded`);
  }
}

/**
 * Parses one ListObjectsV2 answer, asked for with `encoding-type=url`:
 * Contents (Key, Size, LastModified), CommonPrefixes (Prefix), IsTruncated
 * and NextContinuationToken. Anything missing or malformed is CORRUPT naming
 * `what` (the bucket URL): an answer we cannot read is not an empty one.
 */
export function parseListPage(xml: string, what: string): ListPage {
  if (!/<ListBucketResult[\s>]/.test(xml)) throw new DiskImageError('CORRUPT', `${what}: the listing is not a ListBucketResult`);
  const objects = elements(xml, 'Contents').map((c) => {
    const key = elements(c, 'Key')[0];
    const size = Number(elements(c, 'Size')[0]);
    const modifiedMs = Date.parse(elements(c, 'LastModified')[0] ?? '');
    if (key === undefined || !Number.isSafeInteger(size) || size < 0 || Number.isNaN(modifiedMs)) throw new DiskImageError('CORRUPT', `${what}: a listed object lacks a key, size or time`);
    return { key: decodeKey(key, what), size, modifiedMs };
  });
  const prefixes = elements(xml, 'CommonPrefixes').map((p) => decodeKey(elements(p, 'Prefix')[0] ?? '', what));
  const truncated = xmlField(xml, 'IsTruncated') === 'true';
  const next = xmlField(xml, 'NextContinuationToken');
  if (truncated && !next) throw new DiskImageError('CORRUPT', `${what}: a truncated listing without a continuation token`);
  return { objects, prefixes, ...(truncated && { next }) };
}
