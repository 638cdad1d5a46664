/**
 * The page's worker: opens the picked files and runs info, check and every
 * target check off the page's thread, so a large or hostile image never
 * freezes the page. It takes `{ files: File[] }` and posts back one Inspection.
 */
import { inspect } from '../src/browser/inspect.js';

self.onmessage = async (event: MessageEvent<{ files: File[] }>) => {
  const files = event.data.files.map((f) => ({ name: f.name, blob: f as Blob }));
  try {
    self.postMessage(await inspect(files));
  } catch (err) {
    self.postMessage({ ok: false, error: `${(err as Error).message} (INTERNAL)` });
  }
};
