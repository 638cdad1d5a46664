import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { record } from '../../fuzz/harness.js';
import { tempDir } from '../helpers/tmp.js';

test('a finding of the backup target is written with its objects in their folders (writing it threw ENOENT)', () => {
  const dir = tempDir();
  const files = new Map([
    ['config', new Uint8Array([1])],
    ['chunks/98/982b', new Uint8Array([2, 3])],
  ]);
  const at = record(dir, 'backup', { kind: 'hang', index: 11119, seed: 'backup chunks', steps: ['config: bit 0 of byte 0 flipped'], detail: 'no answer after 5000 ms' }, files);
  assert.equal(at, join(dir, 'backup-11119-hang'));
  assert.deepEqual([...readFileSync(join(at, 'chunks/98/982b'))], [2, 3]);
  assert.match(readFileSync(join(at, 'finding.txt'), 'utf8'), /bit 0 of byte 0 flipped[\s\S]*no answer/);
});
