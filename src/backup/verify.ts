import { DiskImageError } from '../errors.js';
import type { ProgressFn } from '../engine/copy.js';
import { chunkName, manifestName } from './layout.js';
import type { StoreOptions } from './open-store.js';
import { openRepository, type Repository } from './repository.js';
import { chunkLength } from './snapshot-index.js';

/** Options of `vdisk backup verify`. */
export interface VerifyOptions {
  /** How to reach the repository (an S3 endpoint). */
  store?: StoreOptions;
  /** The share of distinct chunks to check, from 0 (exclusive) to 1 (all, the default), picked at random. */
  sample?: number;
  signal?: AbortSignal;
  /** Called with the chunks checked so far, of those to check. */
  onProgress?: ProgressFn;
}

/** A damaged object and the snapshots it breaks. */
export interface Damage {
  /** The object: a manifest, an index or a chunk. */
  object: string;
  /** What is wrong, one line. */
  problem: string;
  /** IDs (or, for a manifest that does not parse, object names) of the snapshots it breaks. */
  snapshots: string[];
}

/** What verify checked and found. */
export interface VerifyResult {
  snapshots: number;
  /** Distinct data chunks the snapshots reference. */
  chunks: number;
  /** Of them, how many were read and checked. */
  checked: number;
  damage: Damage[];
  /** Snapshots at least one damaged object breaks. */
  broken: string[];
}

/** A chunk to check: its plaintext length and the snapshots that use it. */
interface ChunkUse {
  length: number;
  snapshots: Set<string>;
}

/** Chunks checked at once (each read, decompressed and hashed). */
const PARALLEL = 4;

/** `share` of `items`, picked uniformly at random (all when share is 1). */
function sample<T>(items: T[], share: number): T[] {
  const k = Math.min(items.length, Math.ceil(items.length * share));
  const out = [...items];
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(Math.random() * (out.length - i));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out.slice(0, k);
}

/** The one-line text of a failure. */
function problemOf(err: unknown): string {
  return err instanceof DiskImageError ? err.describe() : String(err);
}

/** Reads every manifest and index; records what each snapshot uses, and the damage met on the way. */
async function collect(repo: Repository, damage: Damage[]): Promise<{ snapshots: number; uses: Map<string, ChunkUse> }> {
  const uses = new Map<string, ChunkUse>();
  let snapshots = 0;
  for (const name of await repo.manifestNames()) {
    let id = name;
    try {
      const m = await repo.manifest(name);
      if (!m) continue;
      snapshots++;
      id = m.id;
      const index = await repo.loadIndex(m);
      index.chunks.forEach((digest, i) => {
        if (!digest) return;
        const use = uses.get(digest) ?? { length: chunkLength(i, m.diskSize), snapshots: new Set<string>() };
        use.snapshots.add(m.id);
        uses.set(digest, use);
      });
    } catch (err) {
      if (id === name) snapshots++;
      damage.push({ object: id === name ? name : `index of ${id}`, problem: problemOf(err), snapshots: [id] });
    }
  }
  return { snapshots, uses };
}

/**
 * `vdisk backup verify`: reads every manifest and index, then reads,
 * decompresses and re-hashes every chunk the snapshots reference (or a
 * random `sample` share of them), and reports each damaged object with the
 * snapshots it breaks. Damage is reported, not thrown; a chunk whose
 * snapshots were all pruned while verify ran is not damage.
 */
export async function backupVerify(location: string, opts: VerifyOptions = {}): Promise<VerifyResult> {
  const share = opts.sample ?? 1;
  if (!(share > 0 && share <= 1)) throw new DiskImageError('USAGE', `--sample must be more than 0% and at most 100%, not ${share * 100}%`);
  const repo = await openRepository(location, opts.store);
  const damage: Damage[] = [];
  const { snapshots, uses } = await collect(repo, damage);
  const todo = sample([...uses.keys()], share);
  let next = 0;
  let done = 0;
  const worker = async (): Promise<void> => {
    while (next < todo.length) {
      if (opts.signal?.aborted) throw new DiskImageError('IO', 'interrupted');
      const digest = todo[next++]!;
      const use = uses.get(digest)!;
      try {
        await repo.readChunk(digest, use.length, `${use.snapshots.size} snapshot(s)`);
      } catch (err) {
        if (err instanceof DiskImageError && err.code !== 'CORRUPT') throw err;
        const still = [];
        for (const id of use.snapshots) if (await repo.store.exists(manifestName(id))) still.push(id);
        if (still.length > 0) damage.push({ object: chunkName(digest), problem: problemOf(err), snapshots: still.sort() });
      }
      opts.onProgress?.(++done, todo.length);
    }
  };
  await Promise.all(Array.from({ length: PARALLEL }, worker));
  const broken = [...new Set(damage.flatMap((d) => d.snapshots))].sort();
  return { snapshots, chunks: uses.size, checked: todo.length, damage, broken };
}
