/** A byte range of a source. */
export interface Range {
  offset: number;
  length: number;
}

/**
 * Bytes a layer is read from: a local file, memory, an HTTP(S) URL read with
 * Range requests, or (in a browser) a Blob. Formats read only through this,
 * so one reader serves every kind of source.
 */
export interface ByteSource {
  /** The path or URL, for messages and for resolving names relative to it. */
  readonly path: string;
  /** Size in bytes. */
  readonly size: number;
  /** Reads exactly buf.length bytes at `offset`; a read past the end is `CORRUPT`, a failed transfer `IO`. */
  read(buf: Uint8Array, offset: number): Promise<void>;
  /** The data runs of [offset, offset+length) where the source knows its holes (SEEK_DATA/SEEK_HOLE); absent means all data. */
  dataRanges?(offset: number, length: number): Promise<Range[]>;
  /** Releases the source; safe to call twice. */
  close(): Promise<void>;
}
