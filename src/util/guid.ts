/**
 * GUIDs as Windows stores them ([MS-DTYP] 2.3.4.2, used by [MS-VHDX]): Data1
 * (u32), Data2 and Data3 (u16) little-endian, Data4 as 8 bytes in order.
 */

/** Parses "8B7CA206-4790-4B9A-B8FE-575F050F886E" into its 16 stored bytes. */
export function guidBytes(text: string): Uint8Array {
  const h = text.replace(/-/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(h)) throw new Error(`not a GUID: ${text}`);
  const b = Buffer.from(h, 'hex');
  const out = Buffer.alloc(16);
  out.writeUInt32LE(b.readUInt32BE(0), 0);
  out.writeUInt16LE(b.readUInt16BE(4), 4);
  out.writeUInt16LE(b.readUInt16BE(6), 6);
  b.copy(out, 8, 8, 16);
  return new Uint8Array(out);
}

/** Formats 16 stored bytes as "8b7ca206-4790-4b9a-b8fe-575f050f886e". */
export function formatGuid(bytes: Uint8Array): string {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, 16);
  const hex = (n: number, w: number) => n.toString(16).padStart(w, '0');
  const d4 = b.toString('hex', 8, 16);
  return `${hex(b.readUInt32LE(0), 8)}-${hex(b.readUInt16LE(4), 4)}-${hex(b.readUInt16LE(6), 4)}-${d4.slice(0, 4)}-${d4.slice(4)}`;
}

/** Formats a GUID as [MS-VHDX] parent_linkage values are written: "{8b7ca206-...}". */
export function formatGuidBraced(bytes: Uint8Array): string {
  return `{${formatGuid(bytes)}}`;
}

/** Parses "{...}" or a bare GUID; undefined when it is not one. */
export function parseGuid(text: string): Uint8Array | undefined {
  const m = /^\{?([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\}?$/.exec(text.trim());
  return m ? guidBytes(m[1]!) : undefined;
}
