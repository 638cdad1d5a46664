import { PROFILES } from '../targets/profiles.js';

/** What the user picked: a hypervisor profile (`--target`), or a format with its `-o` options. */
export type OutputChoice = { target: string } | { format: string; options: Record<string, string> };

/** The formats and subformats the page offers, in menu order. */
const FORMAT_CHOICES: [format: string, subformat?: string][] = [
  ['raw'],
  ['vhd', 'dynamic'],
  ['vhd', 'fixed'],
  ['vhdx', 'dynamic'],
  ['vhdx', 'fixed'],
  ['vmdk', 'streamOptimized'],
  ['vmdk', 'monolithicSparse'],
  ['qcow2'],
  ['vdi', 'dynamic'],
  ['vdi', 'fixed'],
];

/** The choices the page offers, in its menu order: every profile, then every format and subformat the page writes, each labelled with the CLI's words for it. */
export const PAGE_CHOICES: { label: string; choice: OutputChoice }[] = [
  ...PROFILES.map((p) => ({ label: `for ${p.name} (--target ${p.name})`, choice: { target: p.name } })),
  ...FORMAT_CHOICES.map(([format, subformat]) => ({
    label: subformat ? `${format} ${subformat} (-O ${format} -o subformat=${subformat})` : `${format} (-O ${format})`,
    choice: { format, options: subformat ? { subformat } : ({} as Record<string, string>) },
  })),
];
