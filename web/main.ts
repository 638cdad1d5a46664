/**
 * The page: takes files from the file input or a drop, hands them to a fresh
 * worker (web/worker.ts; the previous one is stopped, so a slow or hostile
 * file never holds up the next pick) and draws what it answers.
 */
import type { Inspection } from '../src/browser/inspect.js';
import { render } from './render.js';

const status = document.getElementById('status')!;
const input = document.getElementById('files') as HTMLInputElement;
const drop = document.getElementById('drop')!;
let worker: Worker | undefined;

/** Inspects `files` in a new worker and renders the answer. */
function inspectFiles(files: File[]): void {
  if (files.length === 0) return;
  worker?.terminate();
  const started = performance.now();
  status.textContent = `Reading ${files.map((f) => f.name).join(', ')}…`;
  const w = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
  worker = w;
  w.onmessage = (event: MessageEvent<Inspection>) => {
    render(event.data);
    status.textContent = `Read ${files.length} file(s) in ${Math.round(performance.now() - started)} ms.`;
    document.body.dataset.state = 'done';
    w.terminate();
  };
  w.onerror = (event) => {
    render({ ok: false, error: `${event.message} (INTERNAL)` });
    document.body.dataset.state = 'done';
  };
  document.body.dataset.state = 'busy';
  w.postMessage({ files });
}

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
