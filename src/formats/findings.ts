import type { Finding } from './layer.js';

/** Findings of one code beyond this many are counted, not listed. */
const MAX_PER_CODE = 8;

/** Collects findings, at most MAX_PER_CODE a code, and says how many more there were. */
export class Findings {
  readonly list: Finding[] = [];
  private readonly counts = new Map<string, number>();

  add(severity: Finding['severity'], code: string, message: string): void {
    const n = (this.counts.get(code) ?? 0) + 1;
    this.counts.set(code, n);
    if (n <= MAX_PER_CODE) this.list.push({ severity, code, message });
  }

  done(): Finding[] {
    for (const [code, n] of this.counts) {
      if (n > MAX_PER_CODE) this.list.push({ severity: 'warning', code, message: `${n - MAX_PER_CODE} more ${code} findings not listed` });
    }
    return this.list;
  }
}
