import { readFileSync, readdirSync, readlinkSync } from 'node:fs';

/** open(2)'s O_DIRECT as /proc/PID/fdinfo prints flags (octal 040000 on x86-64). */
const O_DIRECT_FLAG = 0o40000;

/** This process's open descriptors whose path `match` accepts, counted with and without O_DIRECT. */
export function descriptorsOn(match: string | ((path: string) => boolean)): { direct: number; buffered: number } {
  const accepts = typeof match === 'string' ? (p: string) => p === match : match;
  const out = { direct: 0, buffered: 0 };
  for (const fd of readdirSync('/proc/self/fd')) {
    let target: string;
    try {
      target = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue;
    }
    if (!accepts(target)) continue;
    const flags = parseInt(/^flags:\s+(\d+)/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))![1]!, 8);
    if (flags & O_DIRECT_FLAG) out.direct++;
    else out.buffered++;
  }
  return out;
}
