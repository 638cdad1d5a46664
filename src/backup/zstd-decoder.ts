import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { zstdFrame } from '../util/zstd-frame.js';

/** The parts of the zstd WebAssembly module (Emscripten) the decoder calls. */
interface ZstdModule {
  HEAPU8: Uint8Array;
  _malloc(bytes: number): number;
  _free(pointer: number): void;
  _ZSTD_decompress(dst: number, dstCapacity: number, src: number, srcSize: number): number;
  _ZSTD_isError(code: number): number;
}

/** The one decoder of the process, once loading has started. */
let shared: Promise<ZstdDecoder> | undefined;

/**
 * Decodes backup chunks with the zstd reference decoder compiled to
 * WebAssembly (@bokuweb/zstd-wasm, the module the compression workers
 * encode with), one frame at a time into buffers allocated once in its
 * memory. `ZSTD_decompress` never writes past the capacity it is given, the
 * chunk's length, so a frame that holds more is an error, and it reports
 * how much it wrote, so a short one is too. Against fzstd's stream decoder,
 * which moves its window after every block, it restores the 4 GiB bench
 * disk in half the time with a fraction of the garbage.
 */
export class ZstdDecoder {
  private capacity = 0;
  private src = 0;
  private dst = 0;

  private constructor(private readonly m: ZstdModule) {}

  /** The process's decoder: the WebAssembly module is loaded once (about 100 ms) and its buffers serve every repository. */
  static shared(): Promise<ZstdDecoder> {
    shared ??= (async () => {
      const require = createRequire(import.meta.url);
      const entry = require.resolve('@bokuweb/zstd-wasm');
      await (require(entry) as { init(): Promise<void> }).init();
      return new ZstdDecoder((require(join(dirname(entry), 'module.js')) as { Module: ZstdModule }).Module);
    })();
    return shared;
  }

  /** The `length` bytes of the one Zstandard frame at the start of `stored` (bytes after the frame are ignored); throws when it does not decode to exactly that many. */
  decode(stored: Uint8Array, length: number): Uint8Array {
    const frame = zstdFrame(stored);
    if (typeof frame === 'string') throw new Error(frame);
    if (frame.contentSize !== undefined && frame.contentSize !== length) throw new Error(`the frame holds ${frame.contentSize} bytes`);
    const input = stored.subarray(0, frame.end);
    this.reserve(Math.max(input.length, length));
    const m = this.m;
    m.HEAPU8.set(input, this.src);
    const n = m._ZSTD_decompress(this.dst, length, this.src, input.length);
    if (m._ZSTD_isError(n)) throw new Error(`the frame does not decode within ${length} bytes`);
    if (n !== length) throw new Error(`it decodes to ${n} bytes, not ${length}`);
    return m.HEAPU8.slice(this.dst, this.dst + n);
  }

  /** Makes both buffers hold at least `bytes`. */
  private reserve(bytes: number): void {
    if (bytes <= this.capacity) return;
    if (this.capacity) {
      this.m._free(this.src);
      this.m._free(this.dst);
    }
    this.capacity = 0;
    this.src = this.m._malloc(bytes);
    this.dst = this.m._malloc(bytes);
    if (this.src === 0 || this.dst === 0) throw new Error(`the zstd decoder could not allocate ${bytes} bytes`);
    this.capacity = bytes;
  }
}
