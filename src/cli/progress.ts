import cliProgress from 'cli-progress';
import type { ProgressFn } from '../engine/copy.js';
import { formatSize } from '../util/sizes.js';

/** A progress bar on stderr (bytes, rate, ETA) when asked for and stderr is a terminal; else nothing. */
export function progressBar(enabled: boolean): { update: ProgressFn | undefined; stop(): void } {
  if (!enabled || !process.stderr.isTTY) return { update: undefined, stop: () => undefined };
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: '{bar} {percentage}% | {doneText} / {totalText} | {rateText} | ETA {eta_formatted}',
      hideCursor: true,
      clearOnComplete: false,
    },
    cliProgress.Presets.shades_classic,
  );
  const started = Date.now();
  let running = false;
  return {
    update(done, total) {
      const payload = { doneText: formatSize(done), totalText: formatSize(total), rateText: `${formatSize(done / Math.max(0.001, (Date.now() - started) / 1000))}/s` };
      if (!running) {
        bar.start(Math.max(total, 1), done, payload);
        running = true;
      } else bar.update(done, payload);
    },
    stop() {
      if (running) bar.stop();
    },
  };
}
