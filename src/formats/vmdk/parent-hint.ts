import { dirname, relative, resolve } from 'node:path';

/** A delta's parentFileNameHint: the parent's path relative to the child's directory ("The Descriptor File", parentFileNameHint). */
export function parentHint(childPath: string, parentPath: string): string {
  return relative(dirname(resolve(childPath)), resolve(parentPath));
}
