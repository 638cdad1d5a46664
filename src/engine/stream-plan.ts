/**
 * A streamed image, in output order: literal bytes (metadata) and runs of the
 * source's guest view (data, read when emitted). `zeroPad` bytes of zeros
 * follow a guest run that ends before its block does.
 */
export type StreamPiece = { bytes: Uint8Array } | { guest: { offset: number; length: number }; zeroPad?: number };
