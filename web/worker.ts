/**
 * The page's worker: opens the picked files and runs info, check and every
 * target check, maps a part of their guest view, or converts them, off the
 * page's thread, so a large or hostile image never freezes the page. A conversion writes through an
 * Origin Private File System sync access handle (disk-backed, so the output
 * is never built in memory).
 */
import { convertPicked } from '../src/browser/convert.js';
import type { OutputChoice } from '../src/browser/output-choices.js';
import { errorLine, inspect, mapOf } from '../src/browser/inspect.js';
import { OUTPUT_ENTRY, type Reply, type Request } from './messages.js';

/** The part of FileSystemSyncAccessHandle (worker-only, so not in the DOM typings) used here. */
interface SyncAccessHandle {
  write(buf: Uint8Array, options: { at: number }): number;
  truncate(size: number): void;
  flush(): void;
  close(): void;
}

const post = (reply: Reply) => self.postMessage(reply);

/** Converts `files` as `output` says into the OPFS file OUTPUT_ENTRY, posting progress. */
async function convert(files: { name: string; blob: Blob }[], output: OutputChoice): Promise<void> {
  const root = await navigator.storage.getDirectory();
  const entry = await root.getFileHandle(OUTPUT_ENTRY, { create: true });
  const handle = await (entry as unknown as { createSyncAccessHandle(): Promise<SyncAccessHandle> }).createSyncAccessHandle();
  try {
    handle.truncate(0);
    let last = 0;
    const out = { write: (buf: Uint8Array, at: number) => void handle.write(buf, { at }), truncate: (n: number) => handle.truncate(n) };
    const result = await convertPicked(files, output, out, (done, total) => {
      if (done - last < total / 100 && done !== total) return;
      last = done;
      post({ kind: 'progress', done, total });
    });
    handle.flush();
    post({ kind: 'converted', ...result });
  } finally {
    handle.close();
  }
}

self.onmessage = async (event: MessageEvent<Request>) => {
  const files = event.data.files.map((f) => ({ name: f.name, blob: f as Blob }));
  try {
    const request = event.data;
    if (request.kind === 'inspect') post({ kind: 'inspection', result: await inspect(files) });
    else if (request.kind === 'map') post({ kind: 'map', map: await mapOf(files, request.offset, request.length) });
    else await convert(files, request.output);
  } catch (err) {
    post({ kind: 'failed', error: errorLineOf(err) });
  }
};

/** The CLI's line for an error, or the message of an unexpected one marked INTERNAL. */
function errorLineOf(err: unknown): string {
  try {
    return errorLine(err);
  } catch {
    return `${(err as Error).message} (INTERNAL)`;
  }
}
