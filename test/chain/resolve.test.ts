import assert from 'node:assert/strict';
import { mkdirSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { ParentCandidate } from '../../src/formats/layer.js';
import { resolveParent, type ResolveContext } from '../../src/chain/resolve.js';
import { MAX_CHAIN_DEPTH } from '../../src/limits.js';
import { throwsWithCode } from '../helpers/assert-error.js';
import { tempDir } from '../helpers/tmp.js';

/** A temp tree: root/vms (the child's directory), root/other (outside it), a file in each. */
function tree(): { vms: string; other: string; child: string } {
  const root = realpathSync(tempDir());
  const vms = join(root, 'vms');
  const other = join(root, 'other');
  mkdirSync(join(vms, 'sub'), { recursive: true });
  mkdirSync(other);
  writeFileSync(join(vms, 'base.vhd'), 'x');
  writeFileSync(join(vms, 'sub', 'deep.vhd'), 'x');
  writeFileSync(join(other, 'far.vhd'), 'x');
  return { vms, other, child: join(vms, 'child.vhd') };
}

function ctx(child: string, over: Partial<ResolveContext> = {}): ResolveContext {
  return { childPath: child, parentDirs: [], visited: new Set(), depth: 1, expected: 'UUID 1234', ...over };
}

const w2ru = (path: string): ParentCandidate => ({ source: 'W2ru locator', path });
const w2ku = (path: string): ParentCandidate => ({ source: 'W2ku locator', path });

describe('resolveParent: where stored paths lead', () => {
  it('resolves Windows relative paths with backslashes against the child\'s directory', () => {
    const t = tree();
    assert.deepEqual(resolveParent([w2ru('.\\base.vhd')], ctx(t.child)), [join(t.vms, 'base.vhd')]);
    assert.deepEqual(resolveParent([w2ru('.\\sub\\deep.vhd')], ctx(t.child)), [join(t.vms, 'sub', 'deep.vhd')]);
    assert.deepEqual(resolveParent([w2ru('sub/deep.vhd')], ctx(t.child)), [join(t.vms, 'sub', 'deep.vhd')]);
  });

  it('takes only the file name of a Windows absolute or UNC path, looked up in the child\'s directory', () => {
    const t = tree();
    assert.deepEqual(resolveParent([w2ku('C:\\VMs\\base.vhd')], ctx(t.child)), [join(t.vms, 'base.vhd')]);
    assert.deepEqual(resolveParent([w2ku('d:/VMs/base.vhd')], ctx(t.child)), [join(t.vms, 'base.vhd')]);
    assert.deepEqual(resolveParent([w2ku('\\\\server\\share\\base.vhd')], ctx(t.child)), [join(t.vms, 'base.vhd')]);
  });

  it('looks for a Windows absolute path\'s name and a header name in --parent-dir too', () => {
    const t = tree();
    assert.deepEqual(resolveParent([w2ku('C:\\VMs\\far.vhd')], ctx(t.child, { parentDirs: [t.other] })), [join(t.other, 'far.vhd')]);
    const byName = { source: 'header parent name', path: 'far.vhd', nameOnly: true };
    assert.deepEqual(resolveParent([byName], ctx(t.child, { parentDirs: [t.other] })), [join(t.other, 'far.vhd')]);
  });

  it('returns every file found, in candidate order, once each', () => {
    const t = tree();
    const candidates = [w2ru('.\\missing.vhd'), w2ru('.\\sub\\deep.vhd'), w2ku('C:\\base.vhd'), { source: 'MacX locator', path: './base.vhd' }];
    assert.deepEqual(resolveParent(candidates, ctx(t.child)), [join(t.vms, 'sub', 'deep.vhd'), join(t.vms, 'base.vhd')]);
  });

  it('works when the child is reached through a symlinked directory', () => {
    const t = tree();
    const link = join(t.other, 'link-to-vms');
    symlinkSync(t.vms, link);
    assert.deepEqual(resolveParent([w2ru('.\\base.vhd')], ctx(join(link, 'child.vhd'))), [join(t.vms, 'base.vhd')]);
  });
});

describe('resolveParent: the sandbox', () => {
  it('refuses a symlink in the child\'s directory that points outside (PARENT)', () => {
    const t = tree();
    symlinkSync(join(t.other, 'far.vhd'), join(t.vms, 'evil.vhd'));
    const err = throwsWithCode(() => resolveParent([w2ru('.\\evil.vhd')], ctx(t.child)), 'PARENT');
    assert.match(err.message, /evil\.vhd \(W2ru locator: outside the allowed directories/);
    assert.deepEqual(err.details.tried, [`${join(t.vms, 'evil.vhd')} (W2ru locator: outside the allowed directories; add --parent-dir)`]);
  });

  it('accepts the same link, as its real path, when its target directory is a --parent-dir', () => {
    const t = tree();
    symlinkSync(join(t.other, 'far.vhd'), join(t.vms, 'evil.vhd'));
    assert.deepEqual(resolveParent([w2ru('.\\evil.vhd')], ctx(t.child, { parentDirs: [t.other] })), [join(t.other, 'far.vhd')]);
  });

  it('refuses absolute and ../ paths outside the allowed directories unless a --parent-dir allows them', () => {
    const t = tree();
    for (const c of [w2ru('../other/far.vhd'), w2ru('..\\other\\far.vhd'), { source: 'MacX locator', path: join(t.other, 'far.vhd') }]) {
      throwsWithCode(() => resolveParent([c], ctx(t.child)), 'PARENT');
      assert.deepEqual(resolveParent([c], ctx(t.child, { parentDirs: [t.other] })), [join(t.other, 'far.vhd')]);
    }
  });

  it('passes over a directory named like the parent', () => {
    const t = tree();
    mkdirSync(join(t.vms, 'dir.vhd'));
    const err = throwsWithCode(() => resolveParent([w2ru('.\\dir.vhd')], ctx(t.child)), 'PARENT');
    assert.match(err.message, /dir\.vhd \(W2ru locator: not a regular file\)/);
  });

  // src/chain/resolve.ts inside(): `rel.startsWith('..')` also matches a file name that
  // merely begins with two dots, so a parent in the child's own directory is refused.
  it('accepts a parent whose file name starts with two dots', () => {
    const t = tree();
    writeFileSync(join(t.vms, '..base.vhd'), 'x');
    assert.deepEqual(resolveParent([w2ru('.\\..base.vhd')], ctx(t.child)), [join(t.vms, '..base.vhd')]);
  });
});

describe('resolveParent: loops, depth and the error message', () => {
  it('refuses a parent already in the chain (PARENT, a loop)', () => {
    const t = tree();
    const visited = new Set([join(t.vms, 'base.vhd')]);
    const err = throwsWithCode(() => resolveParent([w2ru('.\\base.vhd')], ctx(t.child, { visited })), 'PARENT');
    assert.match(err.message, /base\.vhd \(W2ru locator: [^)]*loop/);
  });

  it('passes over a candidate already in the chain and returns the others', () => {
    const t = tree();
    const visited = new Set([join(t.vms, 'base.vhd')]);
    assert.deepEqual(resolveParent([w2ru('.\\base.vhd'), w2ru('sub/deep.vhd')], ctx(t.child, { visited })), [join(t.vms, 'sub', 'deep.vhd')]);
  });

  it('refuses a chain at MAX_CHAIN_DEPTH, and accepts one level less', () => {
    const t = tree();
    assert.equal(MAX_CHAIN_DEPTH, 64);
    const err = throwsWithCode(() => resolveParent([w2ru('.\\base.vhd')], ctx(t.child, { depth: MAX_CHAIN_DEPTH })), 'PARENT');
    assert.equal(err.details.depth, MAX_CHAIN_DEPTH);
    throwsWithCode(() => resolveParent([w2ru('.\\base.vhd')], ctx(t.child, { depth: 1000 })), 'PARENT');
    assert.deepEqual(resolveParent([w2ru('.\\base.vhd')], ctx(t.child, { depth: MAX_CHAIN_DEPTH - 1 })), [join(t.vms, 'base.vhd')]);
  });

  it('names every path it tried, once each, and what the child expects', () => {
    const t = tree();
    const candidates: ParentCandidate[] = [
      w2ru('.\\gone1.vhd'),
      { source: 'MacX locator', path: './gone1.vhd' },
      { source: 'MacX locator', path: './gone2.vhd' },
      w2ku('C:\\VMs\\gone3.vhd'),
      { source: 'header parent name', path: 'gone4.vhd', nameOnly: true },
    ];
    const err = throwsWithCode(() => resolveParent(candidates, ctx(t.child, { parentDirs: [t.other] })), 'PARENT');
    const tried = err.details.tried as string[];
    assert.deepEqual(
      tried.map((x) => x.replace(/ \(.*\)$/, '')),
      [join(t.vms, 'gone1.vhd'), join(t.vms, 'gone2.vhd'), join(t.vms, 'gone3.vhd'), join(t.other, 'gone3.vhd'), join(t.vms, 'gone4.vhd'), join(t.other, 'gone4.vhd')],
    );
    for (const p of tried) assert.ok(err.message.includes(p), p);
    assert.match(err.message, /UUID 1234/);
    assert.match(tried[0]!, /W2ru locator: not found/);
  });

  it('says so when the image names no parent path at all', () => {
    const t = tree();
    const err = throwsWithCode(() => resolveParent([], ctx(t.child)), 'PARENT');
    assert.match(err.message, /names no parent path/);
    assert.deepEqual(err.details.tried, []);
  });
});
