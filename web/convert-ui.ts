/**
 * The page's conversion: runs convert-azure in a worker, shows its progress,
 * lets Cancel stop it (the worker is terminated and its output removed), and
 * offers the finished file, which lies in the Origin Private File System, as
 * a download under its converted name.
 */
import { OUTPUT_ENTRY, type Reply, type Request } from './messages.js';

const button = document.getElementById('convert-azure') as HTMLButtonElement;
const cancel = document.getElementById('convert-cancel') as HTMLButtonElement;
const progress = document.getElementById('convert-progress') as HTMLProgressElement;
const line = document.getElementById('convert-status')!;
let url: string | undefined;

/** Shows the converting controls (progress, Cancel) or the idle ones (the button). */
function busy(on: boolean): void {
  button.disabled = on;
  cancel.hidden = !on;
  progress.hidden = !on;
  document.body.dataset.convert = on ? 'busy' : 'done';
}

/** Offers the OPFS output as a download named `name`. */
async function offer(name: string, size: number): Promise<void> {
  const file = await (await (await navigator.storage.getDirectory()).getFileHandle(OUTPUT_ENTRY)).getFile();
  if (url) URL.revokeObjectURL(url);
  url = URL.createObjectURL(file);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.textContent = `Download ${name}`;
  line.replaceChildren(`Done: ${size} bytes. `, a);
  a.click();
}

/** Converts `files` for Azure in a worker started by `start`. */
export function startConversion(files: File[], start: (request: Request, onReply: (reply: Reply, w: Worker) => void) => Worker): void {
  busy(true);
  progress.value = 0;
  line.textContent = 'Converting…';
  const w = start({ kind: 'convert-azure', files }, (reply) => {
    if (reply.kind === 'progress') progress.value = reply.done / reply.total;
    else if (reply.kind === 'converted') {
      w.terminate();
      busy(false);
      void offer(reply.name, reply.size);
    } else if (reply.kind === 'failed') {
      w.terminate();
      busy(false);
      line.textContent = `vdisk: ${reply.error}`;
    }
  });
  cancel.onclick = async () => {
    w.terminate();
    busy(false);
    await (await navigator.storage.getDirectory()).removeEntry(OUTPUT_ENTRY).catch(() => undefined);
    line.textContent = 'Cancelled.';
  };
}
