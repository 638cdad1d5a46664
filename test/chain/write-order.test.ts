import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gate } from '../helpers/gate.js';
import { WriteOrder } from '../../src/chain/write-order.js';


test('writes whose ranges overlap run one after the other, in the order they were issued', async () => {
  const order = new WriteOrder();
  const log: string[] = [];
  const first = gate();
  const a = order.run(0, 100, async () => {
    log.push('a starts');
    await first.promise;
    log.push('a ends');
  });
  const b = order.run(50, 150, async () => void log.push('b'));
  const c = order.run(140, 200, async () => void log.push('c'));
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(log, ['a starts'], 'b waits for a, and c for b');
  first.open();
  await Promise.all([a, b, c]);
  assert.deepEqual(log, ['a starts', 'a ends', 'b', 'c']);
});

test('writes to ranges that do not overlap run at once', async () => {
  const order = new WriteOrder();
  const first = gate();
  let second = false;
  const a = order.run(0, 100, () => first.promise);
  await order.run(100, 200, async () => void (second = true));
  assert.ok(second, 'ran while the first was still pending');
  first.open();
  await a;
});

test('a failed write does not stop the ones waiting for it, and its error reaches its caller', async () => {
  const order = new WriteOrder();
  const a = order.run(0, 10, async () => {
    throw new Error('boom');
  });
  const b = order.run(0, 10, async () => 'done');
  await assert.rejects(a, /boom/);
  assert.equal(await b, 'done');
});
