/**
 * The page: takes files from the file input or a drop, hands them to a fresh
 * worker (web/worker.ts; the previous one is stopped, so a slow or hostile
 * file never holds up the next pick) and draws what it answers. A zoom into
 * the map asks a worker for that part of the disk (not while a pick is read:
 * the map shown is then the previous pick's). The Convert button converts
 * the same files in another worker (web/convert-ui.ts).
 */
import { startConversion } from './convert-ui.js';
import type { Reply, Request } from './messages.js';
import { onZoom, showZoomed } from './map.js';
import { render } from './render.js';

const status = document.getElementById('status')!;
const input = document.getElementById('files') as HTMLInputElement;
const drop = document.getElementById('drop')!;
let worker: Worker | undefined;
let picked: File[] = [];

/** A new worker for one request; `onReply` gets each of its replies. */
export function startWorker(request: Request, onReply: (reply: Reply, w: Worker) => void): Worker {
  const w = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
  w.onmessage = (event: MessageEvent<Reply>) => onReply(event.data, w);
  w.onerror = (event) => onReply({ kind: 'failed', error: `${event.message} (INTERNAL)` }, w);
  w.postMessage(request);
  return w;
}

/** Inspects `files` in a new worker and renders the answer. */
function inspectFiles(files: File[]): void {
  if (files.length === 0) return;
  worker?.terminate();
  picked = files;
  const started = performance.now();
  status.textContent = `Reading ${files.map((f) => f.name).join(', ')}…`;
  document.body.dataset.state = 'busy';
  worker = startWorker({ kind: 'inspect', files }, (reply, w) => {
    render(reply.kind === 'inspection' ? reply.result : { ok: false, error: reply.kind === 'failed' ? reply.error : 'unexpected reply (INTERNAL)' });
    status.textContent = `Read ${files.length} file(s) in ${Math.round(performance.now() - started)} ms.`;
    document.body.dataset.state = 'done';
    w.terminate();
  });
}

onZoom((offset, length) => {
  if (document.body.dataset.state === 'busy') return;
  worker?.terminate();
  document.body.dataset.map = 'busy';
  worker = startWorker({ kind: 'map', files: picked, offset, length }, (reply, w) => {
    if (reply.kind === 'map') showZoomed(reply.map);
    else status.textContent = `vdisk: ${reply.kind === 'failed' ? reply.error : 'unexpected reply (INTERNAL)'}`;
    document.body.dataset.map = 'done';
    w.terminate();
  });
});

input.addEventListener('change', () => inspectFiles([...(input.files ?? [])]));
drop.addEventListener('dragover', (e) => {
  e.preventDefault();
  drop.classList.add('over');
});
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  inspectFiles([...(e.dataTransfer?.files ?? [])]);
});
document.getElementById('convert')!.addEventListener('click', () => startConversion(picked, startWorker));
