import { Session } from 'node:inspector';

/** The scripts whose coverage counts: vdisk's own code, not the harness's, node's or the tests'. */
const COUNTED = /\/dist\/src\//;

/** One range of V8's precise coverage (Profiler.takePreciseCoverage). */
interface CoverageRange {
  startOffset: number;
  endOffset: number;
  count: number;
}

interface ScriptCoverage {
  url: string;
  functions: { ranges: CoverageRange[] }[];
}

/** The key of a range of a script: its URL and offsets. */
const keyOf = (url: string, r: CoverageRange): string => `${url}:${r.startOffset}:${r.endOffset}`;

/** Whether the block [start, end) of a function ran: V8 lists a nested block only when its count differs from the block around it, so the count is that of the innermost listed range holding it. */
function ran(ranges: CoverageRange[], start: number, end: number): boolean {
  let inner = ranges[0]!;
  for (const r of ranges) if (r.startOffset <= start && end <= r.endOffset && r.endOffset - r.startOffset <= inner.endOffset - inner.startOffset) inner = r;
  return inner.count > 0;
}

/**
 * Block coverage of vdisk's code in this thread, from V8's precise
 * coverage through the inspector (the same data `NODE_V8_COVERAGE` writes).
 * A take returns the blocks that ran since the last take and are not among
 * the blocks seen (those the harness passed in, plus those committed since):
 * a mutant that reaches new code is worth keeping as a seed. Counters reset
 * on every take, so a take sees the runs since the one before.
 *
 * V8 leaves out a nested block whose count equals the count of the block
 * around it, so whether a block is listed with a count depends on how often
 * its neighbours ran. The tracker therefore remembers every block listed
 * for each function and judges each of them at every take (see `ran`):
 * taking the listed ranges alone made a block "new" again each time its
 * count first differed from its parent's, and kept mutants that reached no
 * new code.
 */
export class CoverageTracker {
  private readonly session = new Session();
  private readonly seen: Set<string>;
  /** Per function (the key of its whole range): the nested blocks V8 has listed for it, by key. */
  private readonly known = new Map<string, Map<string, [number, number]>>();

  /** Starts from the blocks `seen` before (the harness keeps them over worker replacements). */
  constructor(seen: Iterable<string> = []) {
    this.seen = new Set(seen);
  }

  private post<T>(method: string, params?: object): Promise<T> {
    return new Promise((resolve, reject) => this.session.post(method, params, (err, result) => (err ? reject(err) : resolve(result as T))));
  }

  /** Connects to this thread's inspector and starts counting. */
  async start(): Promise<void> {
    this.session.connect();
    await this.post('Profiler.enable');
    await this.post('Profiler.startPreciseCoverage', { callCount: true, detailed: true });
  }

  /**
   * Blocks of vdisk's code run since the last take and not seen before; the
   * counters start again from zero. With `commit` they count as seen from
   * now on; without, the take only tells whether the runs reached new code.
   */
  async take(commit: boolean): Promise<string[]> {
    const { result } = await this.post<{ result: ScriptCoverage[] }>('Profiler.takePreciseCoverage');
    const fresh = new Set<string>();
    for (const script of result) {
      if (!COUNTED.test(script.url)) continue;
      for (const { ranges } of script.functions) {
        const whole = keyOf(script.url, ranges[0]!);
        if (ranges[0]!.count > 0 && !this.seen.has(whole)) fresh.add(whole);
        let blocks = this.known.get(whole);
        if (!blocks) this.known.set(whole, (blocks = new Map()));
        for (const r of ranges.slice(1)) blocks.set(keyOf(script.url, r), [r.startOffset, r.endOffset]);
        for (const [key, [start, end]] of blocks) if (!this.seen.has(key) && ran(ranges, start, end)) fresh.add(key);
      }
    }
    if (commit) for (const key of fresh) this.seen.add(key);
    return [...fresh];
  }
}
