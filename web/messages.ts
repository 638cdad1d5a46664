/** The messages between the page (main.ts) and its worker (worker.ts). */
import type { Inspection } from '../src/browser/inspect.js';

/** The OPFS file a conversion is written to; the page offers it as a download under the converted name. */
export const OUTPUT_ENTRY = 'vdisk-output.tmp';

/** What the page asks: inspect the picked files, or convert them for Azure into OUTPUT_ENTRY. */
export type Request = { kind: 'inspect'; files: File[] } | { kind: 'convert-azure'; files: File[] };

/** What the worker answers: an inspection; a conversion's progress, its result, or its failure as the CLI's line. */
export type Reply =
  | { kind: 'inspection'; result: Inspection }
  | { kind: 'progress'; done: number; total: number }
  | { kind: 'converted'; name: string; size: number }
  | { kind: 'failed'; error: string };
