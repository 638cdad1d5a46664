import { NBD_CMD_BLOCK_STATUS, NBD_CMD_FLAG_DF, NBD_CMD_FLAG_FUA, NBD_CMD_FLAG_NO_HOLE, NBD_CMD_FLAG_REQ_ONE, NBD_CMD_FLUSH, NBD_CMD_READ, NBD_CMD_TRIM, NBD_CMD_WRITE, NBD_CMD_WRITE_ZEROES, NBD_EINVAL, NBD_ENOSPC, NBD_EOVERFLOW, NBD_EPERM } from './constants.js';
import type { Session } from './handshake.js';
import { limitNote, NBD_MAX_PAYLOAD } from '../limits.js';

/** A request header (proto.md, "Request message"), the cookie kept as its 8 opaque bytes. */
export interface NbdRequest {
  flags: number;
  type: number;
  cookie: Buffer;
  /** Past 2^53 the value is approximate, which is still past the end of any export. */
  offset: number;
  length: number;
}

/** Size of a request header (proto.md, "Request message"). */
export const REQUEST_HEADER = 28;

/** Decodes a request header; the caller has checked its magic. */
export function decodeRequest(head: Buffer): NbdRequest {
  return {
    flags: head.readUInt16BE(4),
    type: head.readUInt16BE(6),
    cookie: Buffer.from(head.subarray(8, 16)),
    offset: Number(head.readBigUInt64BE(16)),
    length: head.readUInt32BE(24),
  };
}

/** A request refused before it runs: the NBD error value and a message for the client. */
export interface Refusal {
  error: number;
  message: string;
}

/** Commands that change the export (refused with NBD_EPERM on a read-only one; proto.md, "Error values"). */
const WRITES = new Set([NBD_CMD_WRITE, NBD_CMD_WRITE_ZEROES, NBD_CMD_TRIM]);

/**
 * The command flags each command takes (proto.md, "Command flags"): FUA on
 * all of them (it is advertised), DF on READ once structured replies are
 * on, NO_HOLE on WRITE_ZEROES, REQ_ONE on BLOCK_STATUS.
 */
function allowedFlags(type: number, structured: boolean): number | undefined {
  switch (type) {
    case NBD_CMD_READ:
      return NBD_CMD_FLAG_FUA | (structured ? NBD_CMD_FLAG_DF : 0);
    case NBD_CMD_WRITE:
    case NBD_CMD_FLUSH:
    case NBD_CMD_TRIM:
      return NBD_CMD_FLAG_FUA;
    case NBD_CMD_WRITE_ZEROES:
      return NBD_CMD_FLAG_FUA | NBD_CMD_FLAG_NO_HOLE;
    case NBD_CMD_BLOCK_STATUS:
      return NBD_CMD_FLAG_FUA | NBD_CMD_FLAG_REQ_ONE;
    default:
      return undefined;
  }
}

/**
 * Why a request must be refused, or undefined when it may run (proto.md,
 * "Request types", "Error values", "Size constraints"): an unknown command or
 * flag, a write to a read-only export, block status without a selected
 * context, a read longer than the maximum payload (NBD_EOVERFLOW with
 * structured replies, which permit it, else NBD_EINVAL), or a range past the
 * end (NBD_ENOSPC for writes, NBD_EINVAL otherwise).
 */
export function refusal(req: NbdRequest, session: Session): Refusal | undefined {
  const allowed = allowedFlags(req.type, session.structured);
  if (allowed === undefined) return { error: NBD_EINVAL, message: `unknown command ${req.type}` };
  if (req.flags & ~allowed) return { error: NBD_EINVAL, message: `command ${req.type} does not take flags 0x${(req.flags & ~allowed).toString(16)}` };
  if (WRITES.has(req.type) && !session.export.writable) return { error: NBD_EPERM, message: 'the export is read-only' };
  if (req.type === NBD_CMD_BLOCK_STATUS && session.allocationContext === undefined) return { error: NBD_EINVAL, message: 'no metadata context was selected' };
  if (req.type === NBD_CMD_READ && req.length > NBD_MAX_PAYLOAD) {
    return { error: session.structured ? NBD_EOVERFLOW : NBD_EINVAL, message: `read of ${req.length} bytes exceeds the maximum payload ${NBD_MAX_PAYLOAD} (${limitNote('NBD_MAX_PAYLOAD', NBD_MAX_PAYLOAD)})` };
  }
  if (req.type === NBD_CMD_FLUSH) return undefined;
  if (req.offset + req.length > session.export.size) {
    const error = req.type === NBD_CMD_WRITE || req.type === NBD_CMD_WRITE_ZEROES ? NBD_ENOSPC : NBD_EINVAL;
    return { error, message: `range ${req.offset}+${req.length} is past the end of the export (${session.export.size} bytes)` };
  }
  if (req.type === NBD_CMD_BLOCK_STATUS && req.length === 0) return { error: NBD_EINVAL, message: 'block status of an empty range' };
  return undefined;
}
