import { MAX_STRING } from './constants.js';

/** What NBD_OPT_INFO and NBD_OPT_GO ask (proto.md, "Option types"): an export name and the information requests. */
export interface InfoRequest {
  name: string;
  infos: number[];
}

/** What NBD_OPT_LIST_META_CONTEXT and NBD_OPT_SET_META_CONTEXT ask (proto.md, "Option types"): an export name and queries. */
export interface MetaContextRequest {
  name: string;
  queries: string[];
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * A string as proto.md "Conventions" defines one: valid UTF-8, no NUL, at
 * most 4096 bytes; undefined when it is not.
 */
export function decodeString(bytes: Uint8Array): string | undefined {
  if (bytes.length > MAX_STRING || bytes.includes(0)) return undefined;
  try {
    return utf8.decode(bytes);
  } catch {
    return undefined;
  }
}

/** A cursor over option data that yields undefined once a field would run past the end. */
class Fields {
  private at = 0;
  constructor(private readonly data: Buffer) {}

  u16(): number | undefined {
    if (this.at + 2 > this.data.length) return undefined;
    this.at += 2;
    return this.data.readUInt16BE(this.at - 2);
  }

  u32(): number | undefined {
    if (this.at + 4 > this.data.length) return undefined;
    this.at += 4;
    return this.data.readUInt32BE(this.at - 4);
  }

  /** A string whose byte length comes first as 32 bits. */
  string(): string | undefined {
    const n = this.u32();
    if (n === undefined || this.at + n > this.data.length) return undefined;
    this.at += n;
    return decodeString(this.data.subarray(this.at - n, this.at));
  }

  get done(): boolean {
    return this.at === this.data.length;
  }
}

/**
 * Parses NBD_OPT_INFO / NBD_OPT_GO data: 32-bit name length, name, 16-bit
 * count, 16-bit information types (proto.md, "Option types"). Undefined when
 * the lengths disagree with the data's.
 */
export function parseInfoRequest(data: Buffer): InfoRequest | undefined {
  const f = new Fields(data);
  const name = f.string();
  const count = f.u16();
  if (name === undefined || count === undefined) return undefined;
  const infos: number[] = [];
  for (let i = 0; i < count; i++) {
    const info = f.u16();
    if (info === undefined) return undefined;
    infos.push(info);
  }
  return f.done ? { name, infos } : undefined;
}

/**
 * Parses NBD_OPT_LIST_META_CONTEXT / NBD_OPT_SET_META_CONTEXT data: 32-bit
 * name length, name, 32-bit query count, each query a 32-bit length and a
 * string (proto.md, "Option types"). Undefined when syntactically invalid.
 */
export function parseMetaContextRequest(data: Buffer): MetaContextRequest | undefined {
  const f = new Fields(data);
  const name = f.string();
  const count = f.u32();
  if (name === undefined || count === undefined) return undefined;
  const queries: string[] = [];
  for (let i = 0; i < count; i++) {
    const q = f.string();
    if (q === undefined) return undefined;
    queries.push(q);
  }
  return f.done ? { name, queries } : undefined;
}
