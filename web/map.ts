/**
 * Draws the allocation map (src/browser/allocation-map.ts) on the page's
 * canvas: 64 cells a row, 8 px each, coloured by what the guest reads there
 * (docs/web.md lists the colours), with a legend naming the layer of each
 * data colour and a hover text giving a cell's byte range.
 */
import { UNALLOCATED, ZERO } from '../src/browser/allocation-map.js';
import { formatSize } from '../src/util/sizes.js';

/** Cells a row, and each cell's side in pixels. */
const COLUMNS = 64;
const CELL_PX = 8;

/** Colours of unallocated and zero cells, and of data by layer depth (the last for every deeper layer). */
export const COLOURS = { unallocated: '#f0f0f0', zero: '#b0b0b0', depth: ['#1f4fbf', '#2e9e5b', '#e0902a', '#9b4fc7'] };

/** The colour of a cell value. */
function colourOf(value: number): string {
  if (value === UNALLOCATED) return COLOURS.unallocated;
  if (value === ZERO) return COLOURS.zero;
  return COLOURS.depth[Math.min(value, COLOURS.depth.length - 1)]!;
}

/** What a cell value means, naming the layer (`layers`: file names, top first). */
function meaningOf(value: number, layers: string[]): string {
  if (value === UNALLOCATED) return 'unallocated (reads as zeros)';
  if (value === ZERO) return 'zeros';
  return `data from ${layers[value] ?? `layer ${value}`}`;
}

/** Draws `map` on canvas#map and fills the legend; `layers` are the chain's file names, top first. */
export function drawMap(map: { cells: number[]; cellBytes: number }, layers: string[]): void {
  const canvas = document.getElementById('map') as HTMLCanvasElement;
  const rows = Math.ceil(map.cells.length / COLUMNS);
  canvas.width = COLUMNS * CELL_PX;
  canvas.height = rows * CELL_PX;
  const ctx = canvas.getContext('2d')!;
  map.cells.forEach((value, i) => {
    ctx.fillStyle = colourOf(value);
    ctx.fillRect((i % COLUMNS) * CELL_PX, Math.floor(i / COLUMNS) * CELL_PX, CELL_PX, CELL_PX);
  });
  canvas.onmousemove = (e) => {
    const i = Math.floor(e.offsetY / CELL_PX) * COLUMNS + Math.floor(e.offsetX / CELL_PX);
    const value = map.cells[i];
    canvas.title = value === undefined ? '' : `${formatSize(i * map.cellBytes)} to ${formatSize((i + 1) * map.cellBytes)}: ${meaningOf(value, layers)}`;
  };
  const legend = document.getElementById('map-legend')!;
  const entries: [number, string][] = [...layers.map((name, depth): [number, string] => [depth, `data from ${name}`]), [ZERO, 'zeros'], [UNALLOCATED, 'unallocated']];
  legend.replaceChildren(
    ...entries.map(([value, text]) => {
      const li = document.createElement('li');
      const swatch = document.createElement('span');
      swatch.className = 'swatch';
      swatch.style.background = colourOf(value);
      li.append(swatch, ` ${text}`);
      return li;
    }),
  );
  document.getElementById('map-scale')!.textContent = `Each square is ${formatSize(map.cellBytes)} of the disk, left to right, top to bottom.`;
}
