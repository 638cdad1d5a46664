import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ByteBudget } from '../../src/nbd/budget.js';

test('a budget lends what it has, queues the rest in order, and caps a request at its total', async () => {
  const budget = new ByteBudget(100);
  assert.equal(await budget.acquire(60), 60);
  const order: number[] = [];
  const big = budget.acquire(50).then((n) => order.push(n));
  const small = budget.acquire(10).then((n) => order.push(n));
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(order, [], 'the 50 waits, and the 10 waits behind it though it would fit');
  budget.release(60);
  await Promise.all([big, small]);
  assert.deepEqual(order, [50, 10]);
  budget.release(60);
  assert.equal(await budget.acquire(1000), 100, 'more than the total takes all of it');
});
