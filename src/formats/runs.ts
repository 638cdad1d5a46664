import type { Run } from './layer.js';

/** True when `b` continues `a`: both absent, both zero, or stored contiguously in one source. */
function continues(a: Run, b: Run): boolean {
  if (a.offset + a.length !== b.offset || a.kind !== b.kind) return false;
  if (a.kind === 'absent' || a.kind === 'zero') return true;
  return a.kind === 'stored' && b.kind === 'stored' && a.source === b.source && a.at + a.length === b.at;
}

/** The runs of `runs` with each run that continues the one before merged into it (grains of one kind in a row become one run). */
export async function* coalesce(runs: AsyncIterable<Run>): AsyncIterable<Run> {
  let pending: Run | undefined;
  for await (const run of runs) {
    if (pending && continues(pending, run)) {
      pending = { ...pending, length: pending.length + run.length };
      continue;
    }
    if (pending) yield pending;
    pending = run;
  }
  if (pending) yield pending;
}
