/**
 * A small codec for fixed-layout on-disk structures: a format declares its
 * fields (offset, type, length) once, next to the spec section they come
 * from, and gets typed decode/encode for free.
 */
export type FieldType = 'u8' | 'u16' | 'u32' | 'u64' | 'bytes' | 'ascii';

/** One field: where it starts, what it holds, and (bytes/ascii) how long it is. */
export interface FieldSpec {
  readonly offset: number;
  readonly type: FieldType;
  readonly length?: number;
}

type ValueOf<T extends FieldType> = T extends 'u64'
  ? bigint
  : T extends 'bytes'
    ? Uint8Array
    : T extends 'ascii'
      ? string
      : number;

/** The decoded value of a layout: numbers, bigints (u64), byte arrays and latin1 strings. */
export type Decoded<F extends Record<string, FieldSpec>> = { -readonly [K in keyof F]: ValueOf<F[K]['type']> };

/** A structure's size, byte order and fields. */
export interface StructLayout<F extends Record<string, FieldSpec>> {
  readonly name: string;
  readonly size: number;
  readonly littleEndian: boolean;
  readonly fields: F;
}

const WIDTH: Record<FieldType, number> = { u8: 1, u16: 2, u32: 4, u64: 8, bytes: 0, ascii: 0 };

function widthOf(f: FieldSpec): number {
  return WIDTH[f.type] || (f.length ?? 0);
}

/** Declares a structure; throws at load time if a field does not fit (a bug in the table, not in a file). */
export function defineStruct<const F extends Record<string, FieldSpec>>(
  name: string,
  size: number,
  endian: 'be' | 'le',
  fields: F,
): StructLayout<F> {
  for (const [key, f] of Object.entries(fields)) {
    if (f.offset + widthOf(f) > size || widthOf(f) === 0) throw new Error(`${name}.${key} does not fit in ${size} bytes`);
  }
  return { name, size, littleEndian: endian === 'le', fields };
}

/** Reads every field of `layout` from `buf` at `at`; the caller has checked that the bytes are there. */
export function decodeStruct<F extends Record<string, FieldSpec>>(layout: StructLayout<F>, buf: Uint8Array, at = 0): Decoded<F> {
  const view = new DataView(buf.buffer, buf.byteOffset + at, layout.size);
  const le = layout.littleEndian;
  const out: Record<string, unknown> = {};
  for (const [key, f] of Object.entries(layout.fields)) {
    switch (f.type) {
      case 'u8': out[key] = view.getUint8(f.offset); break;
      case 'u16': out[key] = view.getUint16(f.offset, le); break;
      case 'u32': out[key] = view.getUint32(f.offset, le); break;
      case 'u64': out[key] = view.getBigUint64(f.offset, le); break;
      case 'bytes': out[key] = buf.slice(at + f.offset, at + f.offset + f.length!); break;
      case 'ascii': out[key] = Buffer.from(buf.buffer, buf.byteOffset + at + f.offset, f.length!).toString('latin1'); break;
    }
  }
  return out as Decoded<F>;
}

/** Writes every field of `values` into `buf` at `at`; bytes not covered by a field are left as they are. */
export function encodeStruct<F extends Record<string, FieldSpec>>(
  layout: StructLayout<F>,
  values: Decoded<F>,
  buf: Uint8Array,
  at = 0,
): void {
  const view = new DataView(buf.buffer, buf.byteOffset + at, layout.size);
  const le = layout.littleEndian;
  for (const [key, f] of Object.entries(layout.fields)) {
    const v = (values as Record<string, unknown>)[key];
    switch (f.type) {
      case 'u8': view.setUint8(f.offset, v as number); break;
      case 'u16': view.setUint16(f.offset, v as number, le); break;
      case 'u32': view.setUint32(f.offset, v as number, le); break;
      case 'u64': view.setBigUint64(f.offset, v as bigint, le); break;
      case 'bytes': buf.set((v as Uint8Array).subarray(0, f.length!), at + f.offset); break;
      case 'ascii': buf.set(Buffer.from((v as string).padEnd(f.length!, '\0').slice(0, f.length!), 'latin1'), at + f.offset); break;
    }
  }
}
