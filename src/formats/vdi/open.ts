import { openSource } from '../../io/open-source.js';
import type { OpenOptions } from '../types.js';
import { openVdiLayer } from './read-format.js';
import { VdiLayer } from './reader.js';
import { WritableVdiLayer } from './writer.js';

/** Opens one VDI layer (writable when `options.writable`, version 1.1 only); chain/ opens a differencing image's parent from the layer's parentRef. */
export async function openVdi(path: string, options: OpenOptions): Promise<VdiLayer> {
  const writable = options.writable === true;
  const file = await (options.openFile ?? openSource)(path, writable ? 'write' : 'read');
  return openVdiLayer(path, file, writable, (...parts) => (writable ? new WritableVdiLayer(...parts) : new VdiLayer(...parts)));
}
