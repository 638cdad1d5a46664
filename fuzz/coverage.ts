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

/**
 * Block coverage of vdisk's code in this thread, from V8's precise
 * coverage through the inspector (the same data `NODE_V8_COVERAGE` writes).
 * Each take returns how many blocks ran for the first time since the
 * tracker started: a mutant that reaches new code is worth keeping as a
 * seed. Counters reset on every take, so each take sees one run.
 */
export class CoverageTracker {
  private readonly session = new Session();
  private readonly seen = new Set<string>();

  private post<T>(method: string, params?: object): Promise<T> {
    return new Promise((resolve, reject) => this.session.post(method, params, (err, result) => (err ? reject(err) : resolve(result as T))));
  }

  /** Connects to this thread's inspector and starts counting. */
  async start(): Promise<void> {
    this.session.connect();
    await this.post('Profiler.enable');
    await this.post('Profiler.startPreciseCoverage', { callCount: true, detailed: true });
  }

  /** Blocks of vdisk's code run since the last take and never before; the counters start again from zero. */
  async take(): Promise<number> {
    const { result } = await this.post<{ result: ScriptCoverage[] }>('Profiler.takePreciseCoverage');
    let fresh = 0;
    for (const script of result) {
      if (!COUNTED.test(script.url)) continue;
      for (const fn of script.functions) {
        for (const r of fn.ranges) {
          if (r.count === 0) continue;
          const key = `${script.url}:${r.startOffset}:${r.endOffset}`;
          if (!this.seen.has(key)) {
            this.seen.add(key);
            fresh++;
          }
        }
      }
    }
    return fresh;
  }

  /** Blocks of vdisk's code run at least once since the start. */
  get covered(): number {
    return this.seen.size;
  }
}
