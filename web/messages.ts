/** The messages between the page (main.ts) and its worker (worker.ts). */
import type { MapView } from '../src/browser/allocation-map.js';
import type { Inspection } from '../src/browser/inspect.js';
import type { OutputChoice } from '../src/browser/output-choices.js';

/** The OPFS file a conversion is written to; the page offers it as a download under the converted name. */
export const OUTPUT_ENTRY = 'vdisk-output.tmp';

/** What the page asks: inspect the picked files, map a part of their guest view (a zoom), or convert them as `output` says into OUTPUT_ENTRY. */
export type Request = { kind: 'inspect'; files: File[] } | { kind: 'map'; files: File[]; offset: number; length: number } | { kind: 'convert'; files: File[]; output: OutputChoice };

/** What the worker answers: an inspection; a zoomed map; a conversion's progress, its result, or its failure as the CLI's line. */
export type Reply =
  | { kind: 'inspection'; result: Inspection }
  | { kind: 'map'; map: MapView }
  | { kind: 'progress'; done: number; total: number }
  | { kind: 'converted'; name: string; size: number }
  | { kind: 'failed'; error: string };
