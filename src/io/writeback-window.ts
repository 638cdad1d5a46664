import type { Range } from './byte-source.js';
import { fileHelper } from './native.js';

/**
 * Bytes queued for writeback before the window waits for them to reach the
 * device and drops them from the page cache. With 4 GiB / 30 % cold
 * conversions on this project's VM, 32 and 64 MiB measured the same and
 * both beat O_DIRECT writes and plain buffered writes (docs/bench.md).
 */
export const WINDOW_BYTES = 64 * 1024 * 1024;

/**
 * Streams a new file's data through the page cache without letting it pile
 * up: every write is queued for writeback at once (sync_file_range WRITE, in
 * the thread pool),
 * so the device writes while vdisk reads; once a window's worth is queued,
 * an fdatasync in the thread pool waits for it and its pages are dropped
 * (POSIX_FADV_DONTNEED), so later writes reuse warm pages instead of taking
 * fresh ones from the host, and the cache never holds more than about two
 * windows of output. A writer that fills a second window while the first settles
 * waits (`written` resolves late). Linux only, through the native helper.
 */
export class WritebackWindow {
  private queued: Range[] = [];
  private queuedBytes = 0;
  private settling: Promise<void> | undefined;
  /** Writeback starts (sync_file_range WRITE, advisory: a failure is ignored) not yet returned. */
  private readonly starting = new Set<Promise<void>>();
  private failure: unknown;

  private constructor(
    private readonly fd: number,
    private readonly datasync: () => Promise<void>,
  ) {}

  /** A window for `fd`, or undefined where the system cannot start writeback (no native helper, not Linux). */
  static for(fd: number, datasync: () => Promise<void>): WritebackWindow | undefined {
    return fileHelper.canStartWriteback ? new WritebackWindow(fd, datasync) : undefined;
  }

  /** Records a finished write of `range`: starts its writeback and, once a window is queued, settles it. */
  async written(range: Range): Promise<void> {
    this.rethrow();
    const started: Promise<void> = fileHelper.startWriteback(this.fd, range.offset, range.length).then(
      () => void this.starting.delete(started),
      () => void this.starting.delete(started),
    );
    this.starting.add(started);
    this.queued.push(range);
    this.queuedBytes += range.length;
    while (this.settling && this.queuedBytes >= WINDOW_BYTES) await this.settling;
    this.rethrow();
    if (this.settling || this.queuedBytes < WINDOW_BYTES) return;
    const batch = this.queued;
    this.queued = [];
    this.queuedBytes = 0;
    this.settling = this.settle(batch);
  }

  /**
   * Waits for the settle in progress and for every writeback start still
   * running: an in-flight sync_file_range holds the open file, and with it
   * the file's lock, past the close of its descriptor. Throws what a settle
   * failed with.
   */
  async drain(): Promise<void> {
    while (this.settling) await this.settling;
    await Promise.all(this.starting);
    this.rethrow();
  }

  /** Waits until `batch` is on the device, then drops its pages; a failure is kept for the writer. */
  private async settle(batch: Range[]): Promise<void> {
    try {
      await this.datasync();
      await Promise.all(batch.map((r) => fileHelper.dropCache(this.fd, r.offset, r.length)));
    } catch (err) {
      this.failure ??= err;
    } finally {
      this.settling = undefined;
    }
  }

  private rethrow(): void {
    if (this.failure !== undefined) throw this.failure;
  }
}
