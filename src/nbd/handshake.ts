import type { ByteReader } from './byte-reader.js';
import { BASE_ALLOCATION, IHAVEOPT, NBD_FLAG_C_FIXED_NEWSTYLE, NBD_FLAG_C_NO_ZEROES, NBD_FLAG_FIXED_NEWSTYLE, NBD_FLAG_NO_ZEROES, NBD_INFO_BLOCK_SIZE, NBD_INFO_EXPORT, NBD_OPT_ABORT, NBD_OPT_EXPORT_NAME, NBD_OPT_GO, NBD_OPT_INFO, NBD_OPT_LIST, NBD_OPT_LIST_META_CONTEXT, NBD_OPT_SET_META_CONTEXT, NBD_OPT_STRUCTURED_REPLY, NBD_REP_ACK, NBD_REP_ERR_INVALID, NBD_REP_ERR_SHUTDOWN, NBD_REP_ERR_UNKNOWN, NBD_REP_ERR_UNSUP, NBD_REP_INFO, NBD_REP_META_CONTEXT, NBD_REP_SERVER, NBDMAGIC, PREFERRED_BLOCK } from './constants.js';
import type { NbdExport } from './export.js';
import { decodeString, parseInfoRequest, parseMetaContextRequest } from './option-data.js';
import { optionReply, protocolString } from './replies.js';
import { limitNote, NBD_MAX_OPTION_DATA, NBD_MAX_PAYLOAD } from '../limits.js';

/** What the handshake agreed: the export, whether replies are structured, and the selected metadata context's id. */
export interface Session {
  export: NbdExport;
  structured: boolean;
  /** The id given to base:allocation by NBD_OPT_SET_META_CONTEXT for this export, when it was selected. */
  allocationContext?: number;
}

/** The connection as the handshake sees it. */
export interface HandshakeWire {
  reader: ByteReader;
  send(data: Uint8Array): void;
  /** Called with why the connection is being dropped (a protocol violation). */
  violation(why: string): void;
  /** True once the server is shutting down: options other than ABORT get NBD_REP_ERR_SHUTDOWN. */
  shuttingDown(): boolean;
}

/** The id base:allocation gets from NBD_OPT_SET_META_CONTEXT (any value the server chooses; proto.md, "Option types"). */
const ALLOCATION_CONTEXT_ID = 1;
/** Client flags this server knows (proto.md, "Client flags"); any other bit MUST drop the connection. */
const KNOWN_CLIENT_FLAGS = NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES;

/** The export a name selects: by name, or for the empty name (the default export) the only one there is. */
export function findExport(exports: ReadonlyMap<string, NbdExport>, name: string): NbdExport | undefined {
  return exports.get(name) ?? (name === '' && exports.size === 1 ? [...exports.values()][0] : undefined);
}

/**
 * The fixed newstyle handshake, server side (proto.md, "Fixed newstyle
 * negotiation"): greets, reads the client flags, then answers options until
 * one enters transmission (NBD_OPT_GO, NBD_OPT_EXPORT_NAME). Undefined when
 * the client aborts, disconnects or breaks the protocol: the caller closes.
 */
export async function negotiate(wire: HandshakeWire, exports: ReadonlyMap<string, NbdExport>): Promise<Session | undefined> {
  const greeting = Buffer.alloc(18);
  greeting.writeBigUInt64BE(NBDMAGIC, 0);
  greeting.writeBigUInt64BE(IHAVEOPT, 8);
  greeting.writeUInt16BE(NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES, 16);
  wire.send(greeting);
  const flagBytes = await wire.reader.read(4);
  if (!flagBytes) return undefined;
  const clientFlags = flagBytes.readUInt32BE(0);
  if (clientFlags & ~KNOWN_CLIENT_FLAGS) return void wire.violation(`unknown client flags 0x${clientFlags.toString(16)}`);
  const state: OptionState = { structured: false, noZeroes: (clientFlags & NBD_FLAG_C_NO_ZEROES) !== 0 };
  for (;;) {
    const head = await wire.reader.read(16);
    if (!head) return undefined;
    if (head.readBigUInt64BE(0) !== IHAVEOPT) return void wire.violation('bad option magic');
    const option = head.readUInt32BE(8);
    const length = head.readUInt32BE(12);
    if (length > NBD_MAX_OPTION_DATA) return void wire.violation(`option ${option} carries ${length} bytes (${limitNote('NBD_MAX_OPTION_DATA', NBD_MAX_OPTION_DATA)})`);
    const data = await wire.reader.read(length);
    if (!data) return undefined;
    if (wire.shuttingDown() && option !== NBD_OPT_ABORT) {
      wire.send(optionReply(option, NBD_REP_ERR_SHUTDOWN, protocolString('the server is shutting down')));
      continue;
    }
    const outcome = answerOption(wire, exports, state, option, data);
    if (outcome !== 'continue') return outcome === 'close' ? undefined : outcome;
  }
}

/** What the options so far have set. */
interface OptionState {
  structured: boolean;
  noZeroes: boolean;
  /** The export and context id the last NBD_OPT_SET_META_CONTEXT selected base:allocation for. */
  meta?: { export: NbdExport; id: number };
}

/** Answers one option: 'continue' with the next, 'close', or the session when transmission starts. */
function answerOption(wire: HandshakeWire, exports: ReadonlyMap<string, NbdExport>, state: OptionState, option: number, data: Buffer): Session | 'continue' | 'close' {
  const reply = (type: number, payload?: Uint8Array) => wire.send(optionReply(option, type, payload));
  const fail = (type: number, message: string) => reply(type, protocolString(message));
  const session = (exp: NbdExport): Session => ({ export: exp, structured: state.structured, allocationContext: state.meta?.export === exp ? state.meta.id : undefined });
  switch (option) {
    case NBD_OPT_EXPORT_NAME: {
      const name = decodeString(data);
      const exp = name === undefined ? undefined : findExport(exports, name);
      if (!exp) {
        wire.violation('NBD_OPT_EXPORT_NAME of an unknown export');
        return 'close';
      }
      const b = Buffer.alloc(state.noZeroes ? 10 : 134);
      b.writeBigUInt64BE(BigInt(exp.size), 0);
      b.writeUInt16BE(exp.transmissionFlags(state.structured), 8);
      wire.send(b);
      return session(exp);
    }
    case NBD_OPT_ABORT:
      reply(NBD_REP_ACK);
      return 'close';
    case NBD_OPT_LIST:
      if (data.length) fail(NBD_REP_ERR_INVALID, 'NBD_OPT_LIST takes no data');
      else {
        for (const exp of exports.values()) reply(NBD_REP_SERVER, withLength(protocolString(exp.name)));
        reply(NBD_REP_ACK);
      }
      return 'continue';
    case NBD_OPT_INFO:
    case NBD_OPT_GO: {
      const request = parseInfoRequest(data);
      const exp = request && findExport(exports, request.name);
      if (!request) fail(NBD_REP_ERR_INVALID, 'malformed NBD_OPT_INFO/GO data');
      else if (!exp) fail(NBD_REP_ERR_UNKNOWN, `no export named '${request.name}'`);
      if (!exp) return 'continue';
      reply(NBD_REP_INFO, exportInfo(exp, state.structured));
      reply(NBD_REP_INFO, blockSizeInfo());
      reply(NBD_REP_ACK);
      return option === NBD_OPT_GO ? session(exp) : 'continue';
    }
    case NBD_OPT_STRUCTURED_REPLY:
      if (data.length) fail(NBD_REP_ERR_INVALID, 'NBD_OPT_STRUCTURED_REPLY takes no data');
      else {
        state.structured = true;
        reply(NBD_REP_ACK);
      }
      return 'continue';
    case NBD_OPT_LIST_META_CONTEXT:
    case NBD_OPT_SET_META_CONTEXT:
      metaContext(wire, exports, state, option, data);
      return 'continue';
    default:
      fail(NBD_REP_ERR_UNSUP, `option ${option} is not supported`);
      return 'continue';
  }
}

/**
 * NBD_OPT_LIST_META_CONTEXT and NBD_OPT_SET_META_CONTEXT (proto.md, "Option
 * types", "The `base:` metadata namespace"): the one context is
 * base:allocation. Listing matches it with no query, `base:` or
 * `base:allocation`; selecting only with `base:allocation`. Other
 * namespaces and leaves are ignored. SET replaces the selection even when it
 * fails.
 */
function metaContext(wire: HandshakeWire, exports: ReadonlyMap<string, NbdExport>, state: OptionState, option: number, data: Buffer): void {
  const set = option === NBD_OPT_SET_META_CONTEXT;
  const fail = (type: number, message: string) => wire.send(optionReply(option, type, protocolString(message)));
  if (set) state.meta = undefined;
  if (!state.structured) return fail(NBD_REP_ERR_INVALID, 'metadata contexts need structured replies first');
  const request = parseMetaContextRequest(data);
  if (!request) return fail(NBD_REP_ERR_INVALID, 'malformed metadata context request');
  const exp = findExport(exports, request.name);
  if (!exp) return fail(NBD_REP_ERR_UNKNOWN, `no export named '${request.name}'`);
  const matches = set
    ? request.queries.includes(BASE_ALLOCATION)
    : request.queries.length === 0 || request.queries.some((q) => q === 'base:' || q === BASE_ALLOCATION);
  if (matches) {
    const id = set ? ALLOCATION_CONTEXT_ID : 0;
    if (set) state.meta = { export: exp, id };
    const payload = Buffer.alloc(4);
    payload.writeUInt32BE(id, 0);
    wire.send(optionReply(option, NBD_REP_META_CONTEXT, Buffer.concat([payload, Buffer.from(BASE_ALLOCATION)])));
  }
  wire.send(optionReply(option, NBD_REP_ACK));
}

/** A string preceded by its 32-bit length (NBD_REP_SERVER data; proto.md, "Option reply types"). */
function withLength(text: Buffer): Buffer {
  const b = Buffer.alloc(4 + text.length);
  b.writeUInt32BE(text.length, 0);
  text.copy(b, 4);
  return b;
}

/** NBD_INFO_EXPORT: type, size, transmission flags (proto.md, "Option reply types"). */
function exportInfo(exp: NbdExport, structured: boolean): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt16BE(NBD_INFO_EXPORT, 0);
  b.writeBigUInt64BE(BigInt(exp.size), 2);
  b.writeUInt16BE(exp.transmissionFlags(structured), 10);
  return b;
}

/**
 * NBD_INFO_BLOCK_SIZE: type, minimum, preferred, maximum payload (proto.md,
 * "Option reply types", "Size constraints"): any alignment (the chain
 * read-modify-writes), 4 KiB preferred, 32 MiB at most, which are the
 * defaults, so it is sent whether or not it was asked for.
 */
function blockSizeInfo(): Buffer {
  const b = Buffer.alloc(14);
  b.writeUInt16BE(NBD_INFO_BLOCK_SIZE, 0);
  b.writeUInt32BE(1, 2);
  b.writeUInt32BE(PREFERRED_BLOCK, 6);
  b.writeUInt32BE(NBD_MAX_PAYLOAD, 10);
  return b;
}
