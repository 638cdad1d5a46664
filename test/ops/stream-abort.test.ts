/**
 * A conversion written front to back that fails midway (the output's sink
 * refuses a write) lets go of its compression workers: the process's
 * threads come back to what they were, for the streamOptimized VMDK and the
 * compressed qcow2 writers alike. Without the writer's abort, the idle
 * workers would stay until the process ends.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { openImage } from '../../src/formats/registry.js';
import { streamImage } from '../../src/ops/stream.js';
import { writePatternDisk } from '../helpers/pattern-disk.js';
import { tempDir } from '../helpers/tmp.js';

const MiB = 1024 * 1024;

/** Threads of this process (Linux: one entry per thread under /proc/self/task). */
function threads(): number {
  return readdirSync('/proc/self/task').length;
}

for (const [format, options] of [
  ['vmdk', { subformat: 'streamOptimized' }],
  ['qcow2', { compressed: 'on' }],
] as const) {
  test(`-O ${format} ${JSON.stringify(options)}: a failing sink stops the compression workers`, async () => {
    const raw = join(tempDir(), 'src.raw');
    await writePatternDisk(raw, { size: 16 * MiB, blockSize: 64 * 1024, fraction: 0.8 });
    const src = await openImage(raw);
    try {
      await src.readAt(new Uint8Array(4096), 0);
      const before = threads();
      let written = 0;
      const sink = {
        write: async (buf: Uint8Array) => {
          written += buf.length;
          if (written > MiB) throw new Error('disk full');
        },
        writeAt: async () => {},
      };
      await assert.rejects(streamImage(src, { format, options: { ...options }, virtualSize: src.virtualSize }, sink), /disk full/);
      for (let waited = 0; threads() > before && waited < 5000; waited += 50) await sleep(50);
      assert.equal(threads(), before, 'every worker thread has ended');
    } finally {
      await src.close();
    }
  });
}
