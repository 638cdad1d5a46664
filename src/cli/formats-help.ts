import { formats } from '../formats/registry.js';

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
