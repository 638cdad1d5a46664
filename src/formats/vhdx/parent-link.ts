import { dirname, relative, resolve } from 'node:path';
import { formatGuidBraced } from '../../util/guid.js';
import type { VhdxLayer } from './reader.js';

/**
 * The key/value pairs a child records for its parent (2.6.2.6): linkage (the
 * parent's DataWriteGuid), optionally an alternate linkage (parent_linkage2:
 * the DataWriteGuid the parent is about to get), relative and absolute paths.
 */
export function parentLocatorEntries(childPath: string, parent: VhdxLayer, alternate?: Uint8Array): [string, string][] {
  const rel = relative(dirname(resolve(childPath)), resolve(parent.path)).replace(/\//g, '\\');
  return [
    ['parent_linkage', formatGuidBraced(parent.layout.header.fields.dataWriteGuid)],
    ...(alternate ? [['parent_linkage2', formatGuidBraced(alternate)] as [string, string]] : []),
    ['relative_path', `.\\${rel}`],
    // A Win32 path, backslashes and all (libvhdi finds the parent by the name after the last backslash).
    ['absolute_win32_path', resolve(parent.path).replace(/\//g, '\\')],
  ];
}
