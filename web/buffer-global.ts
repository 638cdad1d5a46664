/**
 * The one global the library expects of node that a browser lacks: Buffer.
 * The format code builds and parses headers with Buffer (alloc, readUInt32BE,
 * latin1 and UTF-16 strings) in some sixty places; the build injects the
 * `buffer` package's implementation (the one browserify uses, a Uint8Array
 * subclass) wherever that global is referred to, rather than rewrite those
 * readers. It is a complete implementation, not a stub: every call works.
 */
export { Buffer } from 'buffer';
