import type { StatusDescriptor } from './block-status.js';
import {
  MAX_STRING,
  NBD_REPLY_FLAG_DONE,
  NBD_REPLY_TYPE_BLOCK_STATUS,
  NBD_REPLY_TYPE_ERROR,
  NBD_REPLY_TYPE_NONE,
  NBD_SIMPLE_REPLY_MAGIC,
  NBD_STRUCTURED_REPLY_MAGIC,
  OPTION_REPLY_MAGIC,
} from './constants.js';

/**
 * Encoders of what the server sends (all big-endian). A request's cookie is
 * opaque (proto.md, "Transmission"): the 8 bytes are echoed as received.
 */

/** An option reply (proto.md, "Fixed newstyle negotiation"): magic, option, reply type, length, data. */
export function optionReply(option: number, type: number, data: Uint8Array = new Uint8Array(0)): Buffer {
  const b = Buffer.alloc(20 + data.length);
  b.writeBigUInt64BE(OPTION_REPLY_MAGIC, 0);
  b.writeUInt32BE(option, 8);
  b.writeUInt32BE(type, 12);
  b.writeUInt32BE(data.length, 16);
  b.set(data, 20);
  return b;
}

/** A UTF-8 string cut (at a character boundary) to the longest a string may be (proto.md, "Conventions"). */
export function protocolString(text: string): Buffer {
  const b = Buffer.from(text, 'utf8');
  let end = Math.min(b.length, MAX_STRING);
  while (end < b.length && (b[end]! & 0xc0) === 0x80) end--;
  return b.subarray(0, end);
}

/** A simple reply header (proto.md, "Simple reply message"); a successful READ's data follows it. */
export function simpleReply(error: number, cookie: Uint8Array): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt32BE(NBD_SIMPLE_REPLY_MAGIC, 0);
  b.writeUInt32BE(error, 4);
  b.set(cookie, 8);
  return b;
}

/** A structured reply chunk header (proto.md, "Structured reply chunk message"); `length` payload bytes follow. */
export function chunkHeader(flags: number, type: number, cookie: Uint8Array, length: number): Buffer {
  const b = Buffer.alloc(20);
  b.writeUInt32BE(NBD_STRUCTURED_REPLY_MAGIC, 0);
  b.writeUInt16BE(flags, 4);
  b.writeUInt16BE(type, 6);
  b.set(cookie, 8);
  b.writeUInt32BE(length, 16);
  return b;
}

/** The final NBD_REPLY_TYPE_NONE chunk of a successful structured reply (proto.md, "Structured reply types"). */
export function doneChunk(cookie: Uint8Array): Buffer {
  return chunkHeader(NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_NONE, cookie, 0);
}

/** A final NBD_REPLY_TYPE_ERROR chunk: error, message length, message (proto.md, "Structured reply types"). */
export function errorChunk(cookie: Uint8Array, error: number, message: string): Buffer {
  const text = protocolString(message);
  const head = chunkHeader(NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_ERROR, cookie, 6 + text.length);
  const body = Buffer.alloc(6);
  body.writeUInt32BE(error, 0);
  body.writeUInt16BE(text.length, 4);
  return Buffer.concat([head, body, text]);
}

/** One NBD_REPLY_TYPE_BLOCK_STATUS chunk: context id, then length and flags per descriptor (proto.md, "Structured reply types"). */
export function blockStatusChunk(cookie: Uint8Array, contextId: number, descriptors: StatusDescriptor[], done: boolean): Buffer {
  const payload = Buffer.alloc(4 + 8 * descriptors.length);
  payload.writeUInt32BE(contextId, 0);
  descriptors.forEach((d, i) => {
    payload.writeUInt32BE(d.length, 4 + 8 * i);
    payload.writeUInt32BE(d.flags, 8 + 8 * i);
  });
  return Buffer.concat([chunkHeader(done ? NBD_REPLY_FLAG_DONE : 0, NBD_REPLY_TYPE_BLOCK_STATUS, cookie, payload.length), payload]);
}
