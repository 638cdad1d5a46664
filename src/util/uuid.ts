/** A new random (version 4) UUID as 16 bytes. */
export function randomUuid(): Uint8Array {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  return new Uint8Array(b);
}

/**
 * Formats 16 bytes as a UUID string, bytes in stored order (VHD stores UUIDs
 * big-endian, so this matches what Hyper-V and qemu print).
 */
export function formatUuid(bytes: Uint8Array): string {
  const h = Buffer.from(bytes).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** True when two UUIDs hold the same 16 bytes. */
export function uuidEqual(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a).equals(Buffer.from(b));
}

/** True when every byte of the UUID is zero (the "no UUID" value). */
export function uuidIsNil(a: Uint8Array): boolean {
  return a.every((x) => x === 0);
}

/** Parses "1234abcd-..." (with or without braces) into 16 bytes in text order; undefined when it is not a UUID. */
export function parseUuid(text: string): Uint8Array | undefined {
  const m = /^\{?([0-9a-fA-F]{8})-?([0-9a-fA-F]{4})-?([0-9a-fA-F]{4})-?([0-9a-fA-F]{4})-?([0-9a-fA-F]{12})\}?$/.exec(text.trim());
  return m ? new Uint8Array(Buffer.from(m.slice(1).join(''), 'hex')) : undefined;
}
