/**
 * Draws the allocation map (src/browser/allocation-map.ts) on the page's
 * canvas: 64 cells a row, 8 px each, coloured by what the guest reads there
 * (docs/web.md lists the colours), with a legend naming the layer of each
 * data colour and a hover text giving a cell's byte range. A click on a cell,
 * or the wheel turned forward over it, zooms into its row (at least
 * MIN_VIEW bytes); Zoom out, or the wheel turned back, goes back a step.
 */
import { UNALLOCATED, ZERO, type MapView } from '../src/browser/allocation-map.js';
import { formatSize } from '../src/util/sizes.js';

/** Cells a row, and each cell's side in pixels. */
const COLUMNS = 64;
const CELL_PX = 8;

/** The smallest part of the disk the map zooms into: 4096 cells of one sector each. */
export const MIN_VIEW = 64 * COLUMNS * 512;

/** Colours of unallocated and zero cells, and of data by layer depth (the last for every deeper layer). */
export const COLOURS = { unallocated: '#f0f0f0', zero: '#b0b0b0', depth: ['#1f4fbf', '#2e9e5b', '#e0902a', '#9b4fc7'] };

/** The chain's file names (top first), the maps zoomed out of (the whole disk first), and how a zoomed map is asked for. */
const state = { layers: [] as string[], back: [] as MapView[], current: undefined as MapView | undefined, zoom: undefined as ((offset: number, length: number) => void) | undefined };

/** Sets how the page asks for the map of a part of the disk (main.ts: in a worker); the answer comes back through showZoomed. */
export function onZoom(zoom: (offset: number, length: number) => void): void {
  state.zoom = zoom;
}

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

/** The part of the disk a click on cell `i` of `map` zooms into: the cell's row, widened to MIN_VIEW aligned bytes; undefined when the map is that fine already. */
function zoomTarget(map: MapView, i: number): { offset: number; length: number } | undefined {
  if (map.length <= MIN_VIEW) return undefined;
  const row = Math.floor(i / COLUMNS) * COLUMNS * map.cellBytes;
  const end = map.offset + map.length;
  const offset = COLUMNS * map.cellBytes >= MIN_VIEW ? map.offset + row : Math.max(map.offset, Math.min(Math.floor((map.offset + row) / MIN_VIEW) * MIN_VIEW, end - MIN_VIEW));
  return { offset, length: Math.min(Math.max(COLUMNS * map.cellBytes, MIN_VIEW), end - offset) };
}

/** Draws `map` on canvas#map, with its scale line and the zoom controls. */
function draw(map: MapView): void {
  state.current = map;
  const canvas = document.getElementById('map') as HTMLCanvasElement;
  const rows = Math.ceil(map.cells.length / COLUMNS);
  canvas.width = COLUMNS * CELL_PX;
  canvas.height = rows * CELL_PX;
  Object.assign(canvas.dataset, { offset: String(map.offset), length: String(map.length), cellBytes: String(map.cellBytes) });
  const ctx = canvas.getContext('2d')!;
  map.cells.forEach((value, i) => {
    ctx.fillStyle = colourOf(value);
    ctx.fillRect((i % COLUMNS) * CELL_PX, Math.floor(i / COLUMNS) * CELL_PX, CELL_PX, CELL_PX);
  });
  const cellAt = (e: MouseEvent) => Math.floor(e.offsetY / CELL_PX) * COLUMNS + Math.floor(e.offsetX / CELL_PX);
  canvas.onmousemove = (e) => {
    const i = cellAt(e);
    const value = map.cells[i];
    const from = map.offset + i * map.cellBytes;
    canvas.title = value === undefined ? '' : `${formatSize(from)} to ${formatSize(Math.min(from + map.cellBytes, map.offset + map.length))}: ${meaningOf(value, state.layers)}`;
  };
  const zoomInto = (e: MouseEvent) => {
    const target = map.cells[cellAt(e)] === undefined ? undefined : zoomTarget(map, cellAt(e));
    if (target) state.zoom?.(target.offset, target.length);
  };
  canvas.onclick = zoomInto;
  canvas.onwheel = (e) => {
    e.preventDefault();
    // One step per answer: a trackpad sends many wheel events for one gesture.
    if (document.body.dataset.map === 'busy') return;
    if (e.deltaY < 0) zoomInto(e);
    else if (e.deltaY > 0 && state.back.length > 0) draw(state.back.pop()!);
  };
  canvas.style.cursor = map.length > MIN_VIEW ? 'zoom-in' : 'default';
  const out = document.getElementById('map-out') as HTMLButtonElement;
  out.hidden = state.back.length === 0;
  out.onclick = () => draw(state.back.pop()!);
  const whole = map.offset === 0 && state.back.length === 0;
  document.getElementById('map-scale')!.textContent = `${whole ? 'The whole disk' : `${formatSize(map.offset)} to ${formatSize(map.offset + map.length)} of the disk`}: each square is ${formatSize(map.cellBytes)}, left to right, top to bottom.${map.length > MIN_VIEW ? ' Click a square (or turn the wheel forward over it) to zoom into its row.' : ''}`;
}

/** Draws a zoomed map the worker answered, keeping the one shown to go back to. */
export function showZoomed(map: MapView): void {
  if (state.current) state.back.push(state.current);
  draw(map);
}

/** Draws the whole disk's `map` for a new pick and fills the legend; `layers` are the chain's file names, top first. */
export function drawMap(map: MapView, layers: string[]): void {
  state.layers = layers;
  state.back = [];
  draw(map);
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
}
