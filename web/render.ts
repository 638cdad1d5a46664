/**
 * Draws an Inspection into the page: the chain's info fields, the check's
 * findings, the ✓/✗ table of the hypervisor profiles and the allocation map. Everything taken
 * from a file is set as text, never as HTML, so a hostile name or field
 * cannot inject markup.
 */
import type { Inspection, TargetVerdict } from '../src/browser/inspect.js';
import type { ImageInfo } from '../src/formats/types.js';
import { formatSize } from '../src/util/sizes.js';
import { drawMap } from './map.js';

/** A new element with text content and optional attributes. */
function el(tag: string, text = '', attrs: Record<string, string> = {}): HTMLElement {
  const e = document.createElement(tag);
  e.textContent = text;
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

/** A size as "10 MiB (10485760 bytes)", with the byte count in data-value. */
function sizeField(bytes: number): [string, Record<string, string>] {
  return [`${formatSize(bytes)} (${bytes} bytes)`, { 'data-value': String(bytes) }];
}

/** One layer's `info` fields as a definition list, `parent` the file its parent was found in; each value carries data-field (and data-value for numbers). */
function layerFields(info: ImageInfo, depth: number, parent: string | undefined): HTMLElement {
  const section = el('section', '', { class: 'layer', 'data-depth': String(depth) });
  section.append(el('h3', depth === 0 ? info.filename : `parent ${depth}: ${info.filename}`));
  const dl = el('dl');
  const rows: [string, string, string, Record<string, string>?][] = [
    ['format', 'format', info.format],
    ['subformat', 'subformat', info.subformat ?? ''],
    ['virtualSize', 'virtual size', ...sizeField(info.virtualSize)],
    ['fileSize', 'file size', ...sizeField(info.fileSize)],
    ['uuid', 'UUID', info.uuid ?? ''],
    ['parent', 'parent', parent ?? '(none)'],
  ];
  for (const [field, label, value, attrs] of rows) {
    dl.append(el('dt', label), el('dd', value, { 'data-field': field, ...attrs }));
  }
  section.append(dl);
  for (const w of info.warnings) section.append(el('p', `warning: ${w}`, { class: 'warning' }));
  return section;
}

/** Selects `--target profile` in the Convert menu and brings the Convert button into view. */
function chooseTarget(profile: string): void {
  const option = document.querySelector<HTMLOptionElement>(`#convert-to option[data-choice="target:${profile}"]`);
  if (option) (document.getElementById('convert-to') as HTMLSelectElement).value = option.value;
  const convert = document.getElementById('convert')!;
  convert.scrollIntoView({ block: 'center' });
  convert.focus();
}

/** The answer to the page's question in one line: which hypervisors take the image as it is, and which need a conversion. */
function targetsSummary(targets: TargetVerdict[]): string {
  const names = (ok: boolean) => targets.filter((t) => t.ok === ok).map((t) => t.profile).join(', ');
  const takes = names(true);
  const needs = names(false);
  return [takes && `Takes it as it is: ${takes}.`, needs && `Needs a conversion: ${needs} (the ✗ rows say why; their button picks the conversion below).`].filter(Boolean).join(' ');
}

/** One profile's row: its name, ✓ or ✗, each rule with why it fails, and for ✗ a button that picks the conversion for it. */
function targetRow(t: TargetVerdict): HTMLElement {
  const tr = el('tr', '', { 'data-profile': t.profile });
  const rules = el('ul');
  for (const r of t.rules) {
    const li = el('li', `${r.ok ? '✓' : '✗'} ${r.text}${r.detail ? `: ${r.detail}` : ''}`, { class: r.ok ? 'ok' : 'fail', 'data-rule': r.id });
    li.title = r.source;
    rules.append(li);
  }
  const cell = el('td');
  cell.append(rules);
  if (!t.ok) {
    const button = el('button', `Convert for ${t.profile}…`, { class: 'convert-for', 'data-target': t.profile });
    button.onclick = () => chooseTarget(t.profile);
    cell.append(button);
  }
  tr.append(el('td', t.profile), el('td', t.ok ? '✓' : '✗', { class: t.ok ? 'ok' : 'fail', 'data-verdict': t.ok ? 'ok' : 'fail' }), cell);
  return tr;
}

/** Shows `result` in the page: the error line alone, or the chain, the check and the targets. */
export function render(result: Inspection): void {
  const error = document.getElementById('error')!;
  const shown = document.getElementById('result')!;
  error.hidden = result.ok;
  shown.hidden = !result.ok;
  if (!result.ok) {
    error.textContent = `vdisk: ${result.error}`;
    return;
  }
  document.getElementById('chain')!.replaceChildren(...result.chain.map((info, i) => layerFields(info, i, result.chain[i + 1]?.filename)));
  document.getElementById('check-result')!.textContent = result.check.result;
  document.getElementById('findings')!.replaceChildren(...result.check.findings.map((f) => el('li', `${f.severity} ${f.code}: ${f.message}`, { 'data-code': f.code })));
  document.querySelector('#targets tbody')!.replaceChildren(...result.targets.map(targetRow));
  document.getElementById('targets-summary')!.textContent = targetsSummary(result.targets);
  drawMap(result.map, result.chain.map((l) => l.filename));
}
