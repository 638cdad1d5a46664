/**
 * The fuzz harness's Exerciser (fuzz/exerciser.ts) with a stand-in worker
 * (stub-worker.ts): a mutant that hangs or kills the worker is that
 * mutant's finding, the rest of its batch still gets outcomes (run again on
 * a new worker), and only committed takes count as seen.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { BatchItem, CoverageTake } from '../../fuzz/exercise.js';
import { Exerciser } from '../../fuzz/exerciser.js';

const item = (top: string, coverage: CoverageTake = 'none'): BatchItem => ({ files: [], top, coverage });
const workerUrl = new URL('./stub-worker.js', import.meta.url);

test('a hang is the finding of the mutant that hung; the rest of the batch runs on a new worker', async () => {
  const exerciser = new Exerciser({ workerUrl, hangMs: 300 });
  try {
    const outcomes = await exerciser.exercise('raw', [item('a'), item('spin'), item('b'), item('c', 'probe')]);
    assert.deepEqual(outcomes.map((o) => o.kind), ['ok', 'hang', 'ok', 'ok']);
    assert.deepEqual(outcomes[3]!.fresh, ['c']);
    assert.deepEqual((await exerciser.exercise('raw', [item('d')])).map((o) => o.kind), ['ok']);
  } finally {
    await exerciser.close();
  }
});

test('a mutant that kills the worker by eating memory is a memory finding', async () => {
  const exerciser = new Exerciser({ workerUrl, hangMs: 60_000 });
  try {
    const outcomes = await exerciser.exercise('raw', [item('a'), item('eat'), item('b')]);
    assert.deepEqual(outcomes.map((o) => o.kind), ['ok', 'memory', 'ok']);
  } finally {
    await exerciser.close();
  }
});

test('a mutant that keeps allocating ArrayBuffers, which the heap limit does not bound, is a memory finding once the RSS grows past the limit', async () => {
  const exerciser = new Exerciser({ workerUrl, hangMs: 60_000, rssGrowthLimit: 512 * 1024 * 1024 });
  try {
    const outcomes = await exerciser.exercise('raw', [item('a'), item('buffers'), item('b')]);
    assert.deepEqual(outcomes.map((o) => o.kind), ['ok', 'memory', 'ok']);
    const finding = outcomes[1]!;
    assert.ok(finding.kind === 'memory' && /the process grew to \d+ bytes while the mutant ran/.test(finding.detail), JSON.stringify(finding));
  } finally {
    await exerciser.close();
  }
});

test('blocks count as seen only from committed takes', async () => {
  const exerciser = new Exerciser({ workerUrl });
  try {
    await exerciser.exercise('raw', [item('a', 'probe'), item('b', 'commit'), item('c')]);
    assert.deepEqual([...exerciser.seen], ['b']);
  } finally {
    await exerciser.close();
  }
});
