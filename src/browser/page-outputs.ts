import { DiskImageError } from '../errors.js';
import { FORMAT_EXTENSIONS } from '../formats/extensions.js';
import { qcow2SequentialWriter } from '../formats/qcow2/stream.js';
import { rawSequentialWriter } from '../formats/raw/stream.js';
import type { ByteSink, SequentialWriter, StreamLayout } from '../formats/sequential.js';
import { vdiSequentialWriter } from '../formats/vdi/stream.js';
import { vhdSequentialWriter } from '../formats/vhd/stream.js';
import { vhdxSequentialWriter } from '../formats/vhdx/stream.js';
import { vmdkSequentialWriter } from '../formats/vmdk/sequential.js';
import { firstOutput, profileNamed } from '../targets/profile-outputs.js';
import type { OutputChoice } from './output-choices.js';

/** A format the page writes: its file extension and its sequential writer (the same one `vdisk convert` streams through). */
interface PageFormat {
  extension: string;
  writer: (sink: ByteSink, l: StreamLayout) => Promise<SequentialWriter>;
}

/** Every format the page writes, by vdisk's format name. */
const PAGE_FORMATS: Record<string, PageFormat> = {
  raw: { extension: FORMAT_EXTENSIONS.raw, writer: rawSequentialWriter },
  vhd: { extension: FORMAT_EXTENSIONS.vhd, writer: vhdSequentialWriter },
  vhdx: { extension: FORMAT_EXTENSIONS.vhdx, writer: vhdxSequentialWriter },
  vmdk: { extension: FORMAT_EXTENSIONS.vmdk, writer: vmdkSequentialWriter },
  qcow2: { extension: FORMAT_EXTENSIONS.qcow2, writer: qcow2SequentialWriter },
  vdi: { extension: FORMAT_EXTENSIONS.vdi, writer: vdiSequentialWriter },
};

/** What a choice writes: the format, its options, the unit the size is rounded up to, and the words the file name gets. */
export interface PageOutput extends PageFormat {
  format: string;
  options: Record<string, string>;
  sizeMultiple: number;
  /** Added to the top image's name: the target, or the subformat. */
  tag?: string;
}

/**
 * Resolves a choice as `vdisk convert` does: a profile writes its first
 * output the page can write, with the profile's options over its defaults,
 * and rounds the size up to the profile's unit (targets/profiles.ts).
 */
export function pageOutput(choice: OutputChoice): PageOutput {
  if ('target' in choice) {
    const p = profileNamed(choice.target);
    const out = firstOutput(p, (format) => format in PAGE_FORMATS, 'the page');
    return { ...PAGE_FORMATS[out.format]!, format: out.format, options: { ...out.defaults, ...out.options }, sizeMultiple: p.sizeMultiple, tag: p.name };
  }
  const f = PAGE_FORMATS[choice.format];
  if (!f) throw new DiskImageError('USAGE', `the page writes ${Object.keys(PAGE_FORMATS).join(', ')}, not ${choice.format}`);
  return { ...f, format: choice.format, options: choice.options, sizeMultiple: 1, tag: choice.options.subformat };
}
