/**
 * The page's conversion: fills the output menu (every `--target` profile,
 * then every format the page writes), runs a conversion in a worker, shows
 * its progress, lets Cancel stop it (the worker is terminated and its output
 * removed), and offers the finished file, which lies in the Origin Private
 * File System, as a download under its converted name.
 */
import { PAGE_CHOICES } from '../src/browser/output-choices.js';
import { OUTPUT_ENTRY, type Reply, type Request } from './messages.js';

const menu = document.getElementById('convert-to') as HTMLSelectElement;
const button = document.getElementById('convert') as HTMLButtonElement;
const cancel = document.getElementById('convert-cancel') as HTMLButtonElement;
const progress = document.getElementById('convert-progress') as HTMLProgressElement;
const line = document.getElementById('convert-status')!;
let url: string | undefined;

menu.replaceChildren(
  ...PAGE_CHOICES.map(({ label, choice }, i) => {
    const option = new Option(label, String(i));
    option.dataset.choice = 'target' in choice ? `target:${choice.target}` : `format:${choice.format}${choice.options.subformat ? `:${choice.options.subformat}` : ''}`;
    return option;
  }),
);

/** Shows the converting controls (progress, Cancel) or the idle ones (the menu and its button). */
function busy(on: boolean): void {
  button.disabled = on;
  menu.disabled = on;
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

/**
 * Removes the OPFS output of a stopped conversion. A terminated worker's
 * sync access handle keeps the file locked until the worker is torn down
 * (removeEntry then fails with NoModificationAllowedError), so removal is
 * tried again every 50 ms, for up to 5 s.
 */
async function removeOutput(): Promise<void> {
  const root = await navigator.storage.getDirectory();
  for (let tries = 0; tries < 100; tries++) {
    try {
      await root.removeEntry(OUTPUT_ENTRY);
      return;
    } catch (err) {
      if ((err as DOMException).name === 'NotFoundError') return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

/** Converts `files` into the output chosen in the menu, in a worker started by `start`. */
export function startConversion(files: File[], start: (request: Request, onReply: (reply: Reply, w: Worker) => void) => Worker): void {
  const output = PAGE_CHOICES[Number(menu.value)]!.choice;
  busy(true);
  progress.value = 0;
  line.textContent = 'Converting…';
  const w = start({ kind: 'convert', files, output }, (reply) => {
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
    line.textContent = 'Cancelling…';
    await removeOutput();
    line.textContent = 'Cancelled.';
  };
}
