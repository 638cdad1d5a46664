/**
 * The NBD target's inputs: what a client sends a server, from its first
 * byte to its last (NetworkBlockDevice/nbd doc/proto.md, fixed newstyle).
 * Seeds are transcripts a real client could send; the field model finds
 * the lengths, types, offsets and flags in a (possibly mutated) transcript
 * so the mutator can set them to edge values.
 */
import * as C from '../src/nbd/constants.js';
import type { Field, FormatModel } from './fields.js';
import type { Seed } from './seeds.js';

/** The transcript's file name in a seed's set. */
export const TRANSCRIPT = 'client.bin';

/** Names of the exports the fuzz server offers: a read-only image and a writable one. */
export const NBD_EXPORTS = { readOnly: 'ro', writable: 'rw' } as const;

const enc = new TextEncoder();

/** Big-endian bytes of fixed widths. */
function be(width: 2 | 4 | 8, value: number | bigint): Uint8Array {
  const out = new Uint8Array(width);
  const v = new DataView(out.buffer);
  if (width === 2) v.setUint16(0, Number(value));
  else if (width === 4) v.setUint32(0, Number(value));
  else v.setBigUint64(0, BigInt(value));
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** An option request: IHAVEOPT, type, length, data (proto.md, "Option haggling"). */
function option(type: number, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  return concat([be(8, C.IHAVEOPT), be(4, type), be(4, data.length), data]);
}

/** NBD_OPT_GO or NBD_OPT_INFO data: name length, name, information request count and types. */
function goData(name: string, infos: number[]): Uint8Array {
  const n = enc.encode(name);
  return concat([be(4, n.length), n, be(2, infos.length), ...infos.map((i) => be(2, i))]);
}

/** NBD_OPT_{LIST,SET}_META_CONTEXT data: export name, query count, queries. */
function metaData(name: string, queries: string[]): Uint8Array {
  const n = enc.encode(name);
  return concat([be(4, n.length), n, be(4, queries.length), ...queries.flatMap((q) => [be(4, enc.encode(q).length), enc.encode(q)])]);
}

/** A transmission request (proto.md, "Request message"), with its payload for a write. */
function request(type: number, offset: number, length: number, flags = 0, payload?: Uint8Array): Uint8Array {
  return concat([be(4, C.NBD_REQUEST_MAGIC), be(2, flags), be(2, type), be(8, 0x1000 + type), be(8, offset), be(4, length), payload ?? new Uint8Array(0)]);
}

/** A payload of `n` bytes with a recognisable pattern. */
const payload = (n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 7 + 1) & 0xff);

/** The client flags word a fixed-newstyle client sends first. */
const CLIENT_FLAGS = be(4, C.NBD_FLAG_C_FIXED_NEWSTYLE | C.NBD_FLAG_C_NO_ZEROES);

/** Seeds: transcripts of a structured-reply session, an old EXPORT_NAME one, option-only haggling, and a writer. */
export function nbdSeeds(): Seed[] {
  const reads = [
    request(C.NBD_CMD_READ, 0, 65536),
    request(C.NBD_CMD_READ, 1536 * 1024, 4096, C.NBD_CMD_FLAG_DF),
    request(C.NBD_CMD_BLOCK_STATUS, 0, 4 * 1024 * 1024),
    request(C.NBD_CMD_BLOCK_STATUS, 65536, 1024 * 1024, C.NBD_CMD_FLAG_REQ_ONE),
    request(C.NBD_CMD_FLUSH, 0, 0),
  ];
  const writes = [
    request(C.NBD_CMD_WRITE, 4096, 8192, C.NBD_CMD_FLAG_FUA, payload(8192)),
    request(C.NBD_CMD_WRITE_ZEROES, 65536, 131072, C.NBD_CMD_FLAG_NO_HOLE),
    request(C.NBD_CMD_TRIM, 262144, 65536),
    request(C.NBD_CMD_READ, 4096, 8192),
    request(C.NBD_CMD_FLUSH, 0, 0),
  ];
  const disc = request(C.NBD_CMD_DISC, 0, 0);
  const transcripts: Record<string, Uint8Array> = {
    structured: concat([
      CLIENT_FLAGS,
      option(C.NBD_OPT_STRUCTURED_REPLY),
      option(C.NBD_OPT_LIST_META_CONTEXT, metaData(NBD_EXPORTS.readOnly, [])),
      option(C.NBD_OPT_SET_META_CONTEXT, metaData(NBD_EXPORTS.readOnly, [C.BASE_ALLOCATION])),
      option(C.NBD_OPT_GO, goData(NBD_EXPORTS.readOnly, [C.NBD_INFO_EXPORT, C.NBD_INFO_BLOCK_SIZE])),
      ...reads,
      disc,
    ]),
    exportName: concat([CLIENT_FLAGS, option(C.NBD_OPT_EXPORT_NAME, enc.encode(NBD_EXPORTS.readOnly)), ...reads, disc]),
    haggling: concat([CLIENT_FLAGS, option(C.NBD_OPT_LIST), option(C.NBD_OPT_INFO, goData(NBD_EXPORTS.writable, [C.NBD_INFO_BLOCK_SIZE])), option(99, payload(16)), option(C.NBD_OPT_ABORT)]),
    writer: concat([CLIENT_FLAGS, option(C.NBD_OPT_STRUCTURED_REPLY), option(C.NBD_OPT_GO, goData(NBD_EXPORTS.writable, [])), ...writes, disc]),
  };
  return Object.entries(transcripts).map(([name, bytes]) => ({ name: `nbd ${name}`, top: TRANSCRIPT, files: new Map([[TRANSCRIPT, bytes]]) }));
}

const u16 = (at: number): Field => ({ at, width: 2, le: false });
const u32 = (at: number): Field => ({ at, width: 4, le: false });
const u64 = (at: number): Field => ({ at, width: 8, le: false });

/** The fields of the option at `at` (header at `at`, data after it): type, length, and the counts and lengths inside GO/INFO and meta-context data. */
function optionFields(bytes: Uint8Array, at: number, type: number, length: number): Field[] {
  const fields = [u32(at + 8), u32(at + 12)];
  const data = at + 16;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (data + 4 > bytes.length) return fields;
  if (type === C.NBD_OPT_GO || type === C.NBD_OPT_INFO || type === C.NBD_OPT_LIST_META_CONTEXT || type === C.NBD_OPT_SET_META_CONTEXT) {
    const nameLength = view.getUint32(data);
    fields.push(u32(data));
    const count = data + 4 + nameLength;
    if (nameLength < length && count + 2 <= bytes.length) fields.push(type === C.NBD_OPT_GO || type === C.NBD_OPT_INFO ? u16(count) : u32(count));
    if ((type === C.NBD_OPT_GO || type === C.NBD_OPT_INFO) && count + 4 <= bytes.length) fields.push(u16(count + 2));
    if ((type === C.NBD_OPT_LIST_META_CONTEXT || type === C.NBD_OPT_SET_META_CONTEXT) && count + 8 <= bytes.length) fields.push(u32(count + 4));
  }
  return fields;
}

/**
 * Finds the fields of a transcript: the client flags, each option's type and
 * length (and what GO, INFO and the meta-context options carry), and after
 * GO or EXPORT_NAME each request's flags, type, offset and length. A walk
 * that meets bytes it cannot frame stops there.
 */
function transcriptFields(bytes: Uint8Array): Field[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fields: Field[] = [u32(0)];
  let at = 4;
  while (at + 16 <= bytes.length && view.getBigUint64(at) === C.IHAVEOPT) {
    const type = view.getUint32(at + 8);
    const length = view.getUint32(at + 12);
    fields.push(...optionFields(bytes, at, type, length));
    at += 16 + length;
    if (type === C.NBD_OPT_GO || type === C.NBD_OPT_EXPORT_NAME) break;
  }
  while (at + 28 <= bytes.length && view.getUint32(at) === C.NBD_REQUEST_MAGIC) {
    fields.push(u16(at + 4), u16(at + 6), u64(at + 16), u32(at + 24));
    at += 28 + (view.getUint16(at + 6) === C.NBD_CMD_WRITE ? view.getUint32(at + 24) : 0);
  }
  return fields.filter((f) => f.at + f.width <= bytes.length);
}

/** The mutator's model of a transcript: no checksums. */
export const nbdModel: FormatModel = { fields: transcriptFields, fixChecksums: () => undefined };
