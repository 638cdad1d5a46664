import { DiskImageError } from '../errors.js';
import { profileByName } from '../targets/profiles.js';
import { writeFixedVhd, type OutputFile } from './fixed-vhd.js';
import { openTop } from './inspect.js';

/**
 * Converts the top image among picked files (with its chain) for Azure: a
 * fixed VHD, the virtual size rounded up as the azure profile says
 * (src/targets/profiles.ts), written into `out`. Returns the download's
 * name (the top file's name with "-azure.vhd" for its extension) and size.
 */
export async function convertForAzure(picked: { name: string; blob: Blob }[], out: OutputFile, onProgress: (done: number, total: number) => void): Promise<{ name: string; size: number }> {
  const azure = profileByName('azure');
  if (!azure || azure.outputs[0]?.format !== 'vhd' || azure.outputs[0].options.subformat !== 'fixed') {
    throw new DiskImageError('UNSUPPORTED', 'the azure profile no longer writes a fixed VHD; this page writes only that');
  }
  const image = await openTop(picked);
  try {
    const size = await writeFixedVhd(image, out, azure.sizeMultiple, onProgress);
    return { name: `${image.path.replace(/\.[^.]*$/, '')}-azure.vhd`, size };
  } finally {
    await image.close();
  }
}
