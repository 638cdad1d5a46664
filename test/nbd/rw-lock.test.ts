import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gate } from '../helpers/gate.js';
import { RwLock } from '../../src/nbd/rw-lock.js';


test('readers share the lock; a writer waits for them and readers that come after it wait for the writer', async () => {
  const lock = new RwLock();
  const log: string[] = [];
  const r1 = gate();
  const first = lock.read(async () => {
    log.push('r1 in');
    await r1.promise;
    log.push('r1 out');
  });
  const second = lock.read(async () => void log.push('r2'));
  await second;
  const writer = lock.write(async () => void log.push('w'));
  const late = lock.read(async () => void log.push('r3'));
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(log, ['r1 in', 'r2'], 'the writer waits for r1, and r3 waits behind the writer');
  r1.open();
  await Promise.all([first, writer, late]);
  assert.deepEqual(log, ['r1 in', 'r2', 'r1 out', 'w', 'r3']);
});

test('writers run one at a time, and the lock is released when one throws', async () => {
  const lock = new RwLock();
  let inside = 0;
  let most = 0;
  const run = () =>
    lock.write(async () => {
      most = Math.max(most, ++inside);
      await new Promise((resolve) => setImmediate(resolve));
      inside--;
    });
  await Promise.all([run(), run(), run()]);
  assert.equal(most, 1);
  await assert.rejects(lock.write(() => Promise.reject(new Error('boom'))), /boom/);
  assert.equal(await lock.read(async () => 7), 7);
});
