/**
 * The machine's floors for each pair of a case, measured once per source by
 * bench/floor.ts in a child process (its thread pool sized for 8 requests in
 * flight): the read floor of the source file, the write floor of the
 * case's data bytes, and the copy floor of the source (its data read and
 * written at once, for devices whose reads and writes share bandwidth). A
 * pair's floor is the largest of the three.
 */
import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const FLOOR_JS = join(resolve(dirname(fileURLToPath(import.meta.url))), 'floor.js');

/** One floor measurement: the best seconds and how it was done. */
export interface FloorPart {
  seconds: number;
  how: string;
  bytes: number;
}

/** A pair's floor: max(read, write, copy). */
export interface PairFloor {
  seconds: number;
  read: FloorPart;
  write: FloorPart;
  copy: FloorPart;
}

/** Runs bench/floor.ts with `args` and returns its best result. */
function measure(args: string[]): FloorPart {
  const r = spawnSync(process.execPath, [FLOOR_JS, ...args], { encoding: 'utf8', env: { ...process.env, UV_THREADPOOL_SIZE: '16' } });
  if (r.status !== 0) throw new Error(`bench: floor ${args.join(' ')} failed: ${r.stderr}`);
  const { seconds, how, bytes } = JSON.parse(r.stdout) as FloorPart;
  return { seconds, how, bytes };
}

/** Floors of one case, measured when first asked for and kept. */
export class Floors {
  private readonly reads = new Map<string, { read: FloorPart; copy: FloorPart }>();
  private written?: FloorPart;

  constructor(
    private readonly dir: string,
    private readonly dataBytes: number,
    private readonly log: (line: string) => void,
  ) {}

  /** The floor of a pair reading `source`. */
  of(source: string): PairFloor {
    let parts = this.reads.get(source);
    if (!parts) {
      parts = { read: measure(['read', source]), copy: measure(['copy', source, this.dir]) };
      this.reads.set(source, parts);
      this.log(`  read floor of ${source}: ${parts.read.seconds.toFixed(3)} s (${parts.read.how}); copy floor ${parts.copy.seconds.toFixed(3)} s (${parts.copy.how})`);
    }
    if (!this.written) {
      this.written = measure(['write', this.dir, String(this.dataBytes)]);
      this.log(`  write floor of ${this.dataBytes} bytes: ${this.written.seconds.toFixed(3)} s (${this.written.how})`);
    }
    const { read, copy } = parts;
    return { seconds: Math.max(read.seconds, this.written.seconds, copy.seconds), read, write: this.written, copy };
  }
}
