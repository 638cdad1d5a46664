/**
 * src/limits.ts: an error a limit raises names the limit and how to raise it,
 * VDISK_MAX_CHAIN_DEPTH raises the chain depth, and docs/security.md lists
 * every limit.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { resolveParent } from '../src/chain/resolve.js';
import { descriptorText, parseDescriptor } from '../src/formats/vmdk/descriptor.js';
import * as limits from '../src/limits.js';
import { throwsWithCode } from './helpers/assert-error.js';
import { tempDir } from './helpers/tmp.js';

const HEADER = '# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType="monolithicFlat"\n';

describe('limit errors name the limit', () => {
  it('a VMDK descriptor over VMDK_MAX_DESCRIPTOR_BYTES', () => {
    const err = throwsWithCode(() => descriptorText(new Uint8Array(limits.VMDK_MAX_DESCRIPTOR_BYTES + 1).fill(0x20)), 'CORRUPT');
    assert.match(err.message, /vdisk limit VMDK_MAX_DESCRIPTOR_BYTES = 65536; it cannot be raised/);
  });

  it('a VMDK descriptor with more than VMDK_MAX_EXTENTS extents', () => {
    const err = throwsWithCode(() => parseDescriptor(`${HEADER}${'RW 1 ZERO\n'.repeat(limits.VMDK_MAX_EXTENTS + 1)}`), 'CORRUPT');
    assert.match(err.message, /vdisk limit VMDK_MAX_EXTENTS = 2048; it cannot be raised/);
  });

  it('a chain deeper than MAX_CHAIN_DEPTH names VDISK_MAX_CHAIN_DEPTH, which raises it', () => {
    const dir = tempDir();
    const ctx = { childPath: join(dir, 'child.vhd'), parentDirs: [], visited: new Set<string>(), depth: limits.MAX_CHAIN_DEPTH, expected: 'UUID x' };
    const candidates = [{ source: 'W2ru locator', path: 'base.vhd' }];
    const deep = throwsWithCode(() => resolveParent(candidates, ctx), 'PARENT');
    assert.match(deep.message, /chain deeper than 64 images \(vdisk limit MAX_CHAIN_DEPTH = 64; set VDISK_MAX_CHAIN_DEPTH \(up to 4096\) to raise it\)/);
    process.env[limits.CHAIN_DEPTH_ENV] = '100';
    try {
      const notFound = throwsWithCode(() => resolveParent(candidates, ctx), 'PARENT');
      assert.match(notFound.message, /not found/);
      assert.match(throwsWithCode(() => resolveParent(candidates, { ...ctx, depth: 100 }), 'PARENT').message, /deeper than 100 images/);
    } finally {
      delete process.env[limits.CHAIN_DEPTH_ENV];
    }
  });

  it('maxChainDepth reads a whole number from 1 to 4096, else the default', () => {
    assert.equal(limits.maxChainDepth({}), 64);
    assert.equal(limits.maxChainDepth({ VDISK_MAX_CHAIN_DEPTH: '200' }), 200);
    for (const bad of ['0', '-1', '4097', '1.5', 'many', '']) assert.equal(limits.maxChainDepth({ VDISK_MAX_CHAIN_DEPTH: bad }), 64, bad);
  });
});

describe('docs/security.md', () => {
  it('lists every limit of src/limits.ts with its value', () => {
    const doc = readFileSync(new URL('../../docs/security.md', import.meta.url), 'utf8');
    const numeric = Object.entries(limits).filter((e): e is [string, number] => typeof e[1] === 'number');
    assert.ok(numeric.length >= 30);
    for (const [name, value] of numeric) {
      const row = doc.split('\n').find((l) => l.startsWith(`| \`${name}\` |`));
      assert.ok(row, `${name} has no row in the Limits table`);
      assert.ok(row.includes(`| ${value.toLocaleString('en-US')} `) || row.includes(`(${value.toLocaleString('en-US')})`), `${name}: the row does not give ${value}`);
    }
  });
});
