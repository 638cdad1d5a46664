/**
 * Power-cut replay of a local repository's writes. DirStore makes each
 * create and delete durable before it returns (file fsync before the link,
 * directory fsync after the link or unlink; dir-store.ts), so what a power
 * cut leaves is the store's completed writes up to some point. This test
 * records every completed write of backup create, prune and gc, in the
 * order they completed, then rebuilds the repository from each prefix of
 * them, one per fsync point, and checks that it verifies, that every
 * snapshot it lists restores to its disk, and that the interrupted
 * command, run again on it, finishes.
 */
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { backupCreate } from '../../src/backup/create.js';
import { DirStore } from '../../src/backup/dir-store.js';
import { backupGc } from '../../src/backup/gc.js';
import type { ObjectStore, StoredObject } from '../../src/backup/object-store.js';
import { backupPrune } from '../../src/backup/prune.js';
import { initRepository, openRepository } from '../../src/backup/repository.js';
import { restoreToFile } from '../../src/backup/restore.js';
import { backupVerify } from '../../src/backup/verify.js';
import { writePatternDisk } from '../helpers/pattern-disk.js';
import { tempDir } from '../helpers/tmp.js';

const MiB = 1024 * 1024;

/** A completed write, and the command it was part of. */
type Write = { step: number } & ({ op: 'create'; name: string; data: Uint8Array } | { op: 'delete'; name: string });

/** An ObjectStore that passes everything to `inner` and records each write once it has completed. */
class RecordingStore implements ObjectStore {
  constructor(
    private readonly inner: ObjectStore,
    private readonly log: Write[],
    private readonly step: () => number,
  ) {}

  get location(): string {
    return this.inner.location;
  }

  async create(name: string, data: Uint8Array): Promise<boolean> {
    const made = await this.inner.create(name, data);
    if (made) this.log.push({ step: this.step(), op: 'create', name, data: data.slice() });
    return made;
  }

  get(name: string, maxBytes: number): Promise<Uint8Array | undefined> {
    return this.inner.get(name, maxBytes);
  }

  exists(name: string): Promise<boolean> {
    return this.inner.exists(name);
  }

  list(prefix: string): Promise<string[]> {
    return this.inner.list(prefix);
  }

  listTree(prefix: string): AsyncIterable<StoredObject> {
    return this.inner.listTree(prefix);
  }

  async delete(name: string): Promise<void> {
    await this.inner.delete(name);
    this.log.push({ step: this.step(), op: 'delete', name });
  }
}

/** True for a lease beat: it says who runs, not what the repository holds (a replayed beat of this live process would only make the re-run wait). */
function isBeat(name: string): boolean {
  return name.startsWith('sessions/') || name.startsWith('gc/');
}

test('a power cut at any fsync point of backup create, prune and gc leaves a repository that verifies, restores right, and lets the command finish', { timeout: 600_000 }, async () => {
  const dir = tempDir('vdisk-backup-cut-');
  const repo = join(dir, 'repo');
  await initRepository(repo);
  const log: Write[] = [];
  let step = 0;
  const store = { observe: (s: ObjectStore) => new RecordingStore(s, log, () => step) };
  const raw = join(dir, 'd.raw');
  /** The disk each snapshot was taken of, by ID. */
  const expected = new Map<string, Buffer>();
  /** Steps: what each did, run again on a replayed repository. */
  const steps: ((location: string) => Promise<unknown>)[] = [];
  for (let round = 0; round < 2; round++) {
    rmSync(raw, { force: true });
    await writePatternDisk(raw, { size: 10 * MiB + 512, blockSize: MiB, fraction: 0.7, seed: 4000 * (round + 1) });
    const source = readFileSync(raw);
    const copy = join(dir, `d${round}.raw`);
    await writePatternDisk(copy, { size: 10 * MiB + 512, blockSize: MiB, fraction: 0.7, seed: 4000 * (round + 1) });
    steps.push((location) => backupCreate(location, copy, { name: 'd' }));
    step = steps.length - 1;
    expected.set((await backupCreate(repo, raw, { name: 'd', store })).id, source);
  }
  steps.push((location) => backupPrune(location, { last: 1 }));
  step = steps.length - 1;
  await backupPrune(repo, { last: 1 }, { store });
  steps.push((location) => backupGc(location, { graceMs: 0 }));
  step = steps.length - 1;
  const swept = await backupGc(repo, { graceMs: 0, store });
  assert.ok(swept.deleted > 0, 'the gc step deleted nothing: the replay would not test it');

  const writes = log.filter((w) => !isBeat(w.name));
  const config = readFileSync(join(repo, 'vdisk-backup.json'));
  for (let cut = 0; cut <= writes.length; cut++) {
    const at = join(dir, `cut-${cut}`);
    const replay = new DirStore(at);
    await replay.create('vdisk-backup.json', config);
    for (const w of writes.slice(0, cut)) {
      if (w.op === 'create') await replay.create(w.name, w.data);
      else await replay.delete(w.name);
    }
    const what = `cut after write ${cut} of ${writes.length}`;
    const v = await backupVerify(at);
    assert.deepEqual(v.damage, [], `${what}: verify found damage`);
    for (const m of await (await openRepository(at)).snapshots()) {
      const out = join(at, 'restored.raw');
      await restoreToFile(at, m.id, out, { outputFormat: 'raw', replace: true });
      assert.ok(readFileSync(out).equals(expected.get(m.id)!), `${what}: snapshot ${m.id} restores wrong`);
      rmSync(out);
    }
    const interrupted = writes[cut]?.step ?? steps.length - 1;
    await steps[interrupted]!(at);
    assert.deepEqual((await backupVerify(at)).damage, [], `${what}: the re-run of step ${interrupted} left damage`);
    rmSync(at, { recursive: true });
  }
});
