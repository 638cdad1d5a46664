import type { ParentCandidate } from '../formats/layer.js';

/** The default deepest chain, re-exported where src/browser/picked-files.ts reads it (the CLI and library use limits.ts maxChainDepth()). */
export { MAX_CHAIN_DEPTH } from '../limits.js';

/** Where a parent may be looked for, and what has been opened on the way down. */
export interface ResolveContext {
  childPath: string;
  /** Extra allowed directories (`--parent-dir`). */
  parentDirs: string[];
  /** Real paths of the images already open in this chain (loop detection). */
  visited: Set<string>;
  depth: number;
  /** What the child expects, for the error message ("UUID 1234-..."). */
  expected: string;
}

/** Finds the paths the candidates a child records for its parent lead to, best first; throws `PARENT` when there are none. */
export type ParentResolver = (candidates: ParentCandidate[], ctx: ResolveContext) => string[];
