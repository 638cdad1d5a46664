import type { SingleBar } from 'cli-progress';
import type { ProgressFn } from '../engine/copy.js';
import { formatSize } from '../util/sizes.js';

/** Least time between two JSON progress lines. */
const JSON_INTERVAL_MS = 500;

/**
 * `--progress=json`: one line on stderr at most every 500 ms and a last one at
 * the end, `{"type":"progress","done":N,"total":N,"percent":P,"bytesPerSecond":R}`
 * (docs/json-schema.md).
 */
function jsonProgress(): { update: ProgressFn; stop(): void } {
  const started = Date.now();
  let last = 0;
  let latest: [number, number] | undefined;
  const emit = () => {
    if (!latest) return;
    const [done, total] = latest;
    const seconds = Math.max(0.001, (Date.now() - started) / 1000);
    process.stderr.write(`${JSON.stringify({ type: 'progress', done, total, percent: total ? Math.round((done / total) * 1000) / 10 : 100, bytesPerSecond: Math.round(done / seconds) })}\n`);
  };
  return {
    update(done, total) {
      latest = [done, total];
      if (Date.now() - last >= JSON_INTERVAL_MS) {
        last = Date.now();
        emit();
      }
    },
    stop: emit,
  };
}

/**
 * Progress for `-p`: a bar on stderr (bytes, rate, ETA) when stderr is a
 * terminal; `--progress=json`: JSON lines on stderr; else nothing.
 */
export function progressBar(mode: boolean | string | undefined): { update: ProgressFn | undefined; stop(): void } {
  if (mode === 'json') return jsonProgress();
  if (mode !== true || !process.stderr.isTTY) return { update: undefined, stop: () => undefined };
  // cli-progress is loaded only when a bar is shown (it costs ~15 ms of start-up otherwise).
  let bar: SingleBar | undefined;
  const loading = import('cli-progress').then(({ default: cliProgress }) => {
    bar = new cliProgress.SingleBar(
      {
        stream: process.stderr,
        format: '{bar} {percentage}% | {doneText} / {totalText} | {rateText} | ETA {eta_formatted}',
        hideCursor: true,
        clearOnComplete: false,
      },
      cliProgress.Presets.shades_classic,
    );
  });
  void loading.catch(() => undefined);
  const started = Date.now();
  let running = false;
  return {
    update(done, total) {
      if (!bar) return;
      const payload = { doneText: formatSize(done), totalText: formatSize(total), rateText: `${formatSize(done / Math.max(0.001, (Date.now() - started) / 1000))}/s` };
      if (!running) {
        bar.start(Math.max(total, 1), done, payload);
        running = true;
      } else bar.update(done, payload);
    },
    stop() {
      if (running) bar?.stop();
    },
  };
}
