import { formats } from '../formats/registry.js';
import type { FormatDescriptor } from '../formats/types.js';

/** The names of the formats that pass `filter`, for option help ("raw, vhd, vhdx"). */
export function formatNames(filter: (f: FormatDescriptor) => boolean): string {
  return formats()
    .filter(filter)
    .map((f) => f.name)
    .sort()
    .join(', ');
}

/** The formats section of `vdisk --help`, from the descriptors: name, what it can do, and what it is. */
export function formatsHelp(): string {
  const rows = [...formats()]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((f) => {
      const can = [f.open && 'read', f.create && 'write', f.differencing && 'differencing', f.sequentialWriter && 'pipe out', f.compressOptions && 'compressed (-c)', f.pipeInput && 'pipe in'].filter(Boolean).join(', ');
      return `  ${f.name.padEnd(6)} ${f.summary}\n         ${can}; -o ${f.createOptions?.join(', ') || '(none)'}`;
    });
  return `\nFormats:\n${rows.join('\n')}`;
}
