import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BufferPool } from '../../src/nbd/buffer-pool.js';

test('a pool hands back a buffer given to it, by size, and keeps no more than its capacity', () => {
  const pool = new BufferPool(3000);
  const a = pool.take(1000);
  const b = pool.take(1000);
  const c = pool.take(1000);
  const d = pool.take(1000);
  assert.equal(a.length, 1000);
  for (const x of [a, b, c, d]) pool.give(x);
  assert.equal(pool.take(500).length, 500, 'another size is allocated');
  const again = [pool.take(1000), pool.take(1000), pool.take(1000), pool.take(1000)];
  assert.equal(again.filter((x) => [a, b, c, d].includes(x)).length, 3, 'three were kept (capacity 3000), the fourth is new');
});
