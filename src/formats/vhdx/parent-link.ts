import { dirname, relative, resolve } from 'node:path';
import { formatGuidBraced } from '../../util/guid.js';
import type { VhdxLayer } from './reader.js';

/**
 * The key/value pairs a child records for its parent (2.6.2.6): linkage (the
 * parent's DataWriteGuid), relative and absolute paths. With `upcoming` (the
 * DataWriteGuid the parent takes at its first data write, which comes next),
 * `parent_linkage` is that one and `parent_linkage2` the parent's current one:
 * 2.6.2.6.3 lets a reader match either, but libvhdi (20210425) reads only
 * `parent_linkage`, so it must name the GUID the parent holds from its first
 * write until the child is re-linked (docs/formats/vhdx.md).
 */
export function parentLocatorEntries(childPath: string, parent: VhdxLayer, upcoming?: Uint8Array): [string, string][] {
  const rel = relative(dirname(resolve(childPath)), resolve(parent.path)).replace(/\//g, '\\');
  const current = parent.layout.header.fields.dataWriteGuid;
  return [
    ['parent_linkage', formatGuidBraced(upcoming ?? current)],
    ...(upcoming ? [['parent_linkage2', formatGuidBraced(current)] as [string, string]] : []),
    ['relative_path', `.\\${rel}`],
    // A Win32 path, backslashes and all (libvhdi finds the parent by the name after the last backslash).
    ['absolute_win32_path', resolve(parent.path).replace(/\//g, '\\')],
  ];
}
