import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test, type TestContext } from 'node:test';
import { CONFIG_NAME } from '../../src/backup/layout.js';
import { initRepository } from '../../src/backup/repository.js';
import { S3Store, type S3Tuning } from '../../src/backup/s3-store.js';
import { rejectsWithCode } from '../helpers/assert-error.js';
import { startFaultProxy, type Fault } from '../helpers/fault-proxy.js';
import { closedPort, s3Server } from '../helpers/s3-server.js';

const s3 = s3Server();

/** A new bucket name, so that tests never see each other's objects. */
function bucketName(): string {
  return `vdisk-${randomBytes(6).toString('hex')}`;
}

/** A store on a new bucket (created) of the test server, under `prefix`; undefined when the test was skipped. */
async function newStore(t: TestContext, prefix = 'repo/', tuning: S3Tuning = {}): Promise<S3Store | undefined> {
  const server = await s3(t);
  if (!server) return undefined;
  const store = new S3Store(server.config, bucketName(), prefix, tuning);
  await store.createBucket();
  return store;
}

test('an S3Store create is conditional: a second create returns false and leaves the object as it was', async (t) => {
  const store = await newStore(t);
  if (!store) return;
  const data = randomBytes(100_000);
  assert.equal(await store.create('chunks/ab/one', data), true);
  assert.equal(await store.create('chunks/ab/one', new Uint8Array([9])), false);
  assert.deepEqual(Buffer.from((await store.get('chunks/ab/one', data.length))!), data);
  assert.equal(await store.get('chunks/ab/missing', 10), undefined);
  assert.equal(await store.exists('chunks/ab/one'), true);
  assert.equal(await store.exists('chunks/ab/two'), false);
  assert.equal(await store.create('empty', new Uint8Array()), true);
  assert.deepEqual(await store.get('empty', 0), new Uint8Array());
});

test('of 8 concurrent creates of one new name exactly one succeeds, and the object is its data', async (t) => {
  const store = await newStore(t);
  if (!store) return;
  const payloads = Array.from({ length: 8 }, () => randomBytes(64 * 1024));
  const results = await Promise.all(payloads.map((p) => store.create('race', p)));
  assert.equal(results.filter(Boolean).length, 1, JSON.stringify(results));
  assert.deepEqual(Buffer.from((await store.get('race', 64 * 1024))!), payloads[results.indexOf(true)]);
});

test('an S3Store refuses an object larger than the limit without reading it', async (t) => {
  const store = await newStore(t);
  if (!store) return;
  await store.create('big', new Uint8Array(5000));
  const err = await rejectsWithCode(store.get('big', 4999), 'CORRUPT');
  assert.match(err.message, /\/repo\/big is 5000 bytes, more than the 4999/);
  assert.equal((await store.get('big', 5000))!.length, 5000);
});

test('list gives the direct children of a prefix, sorted, across pages; keys come back exactly', async (t) => {
  const store = await newStore(t, 'a b/+&<x>/', { maxKeys: 2 });
  if (!store) return;
  const names = ['s/two', 's/one', 's/sub/x', 's/é ü+%20&amp;', "s/it's (1)*!", 'other/y'];
  for (const name of names) assert.equal(await store.create(name, new TextEncoder().encode(name)), true);
  assert.deepEqual(await store.list('s/'), ['s/one', 's/two', "s/it's (1)*!", 's/é ü+%20&amp;'].sort());
  assert.deepEqual(await store.list('none/'), []);
  for (const name of names) assert.equal(new TextDecoder().decode((await store.get(name, 100))!), name);
});

test('listTree pages through every object with its size and time; delete removes, and is fine when absent', async (t) => {
  const store = await newStore(t, 'deep/er/', { maxKeys: 3 });
  if (!store) return;
  const before = Date.now() - 60_000;
  for (let i = 0; i < 10; i++) await store.create(`t/${i % 3}/obj${i}`, new Uint8Array(i));
  await store.create('u/outside', new Uint8Array(1));
  const tree = [];
  for await (const o of store.listTree('t/')) tree.push(o);
  assert.deepEqual(tree.map((o) => [o.name, o.size]).sort(), Array.from({ length: 10 }, (_, i) => [`t/${i % 3}/obj${i}`, i]).sort());
  assert.ok(tree.every((o) => o.modifiedMs > before && o.modifiedMs < Date.now() + 60_000), JSON.stringify(tree));
  await store.delete('t/1/obj4');
  await store.delete('t/1/obj4');
  await store.delete('never/was');
  assert.equal(await store.exists('t/1/obj4'), false);
  assert.deepEqual(await store.list('t/1/'), ['t/1/obj1', 't/1/obj7']);
});

test('a store at the bucket root (empty prefix) names objects without a leading slash', async (t) => {
  const store = await newStore(t, '');
  if (!store) return;
  await store.create('x/y', new Uint8Array([1]));
  await store.create('z', new Uint8Array([2]));
  assert.deepEqual(await store.list(''), ['z']);
  assert.deepEqual(await store.list('x/'), ['x/y']);
  const all = [];
  for await (const o of store.listTree('')) all.push(o.name);
  assert.deepEqual(all.sort(), ['x/y', 'z']);
});

test('a wrong secret, a missing bucket and an unreachable endpoint are one-line coded errors', async (t) => {
  const store = await newStore(t);
  const server = await s3(t);
  if (!store || !server) return;
  const wrong = new S3Store({ ...server.config, secretAccessKey: 'not-the-secret' }, 'anything', '');
  assert.match((await rejectsWithCode(wrong.create('x', new Uint8Array(1)), 'USAGE')).message, /access denied \(403 SignatureDoesNotMatch\); check the credentials/);
  assert.match((await rejectsWithCode(wrong.exists('x'), 'USAGE')).message, /access denied \(403/);
  const missing = new S3Store(server.config, bucketName(), 'p/');
  assert.match((await rejectsWithCode(missing.list('s/'), 'USAGE')).message, /^bucket vdisk-\w+ does not exist at http:\/\/127\.0\.0\.1:\d+ \(vdisk backup init creates it/);
  await rejectsWithCode(missing.get('x', 1), 'USAGE');
  const start = Date.now();
  const down = new S3Store({ ...server.config, endpoint: `http://127.0.0.1:${await closedPort()}` }, 'b-x', '', { retries: 2, backoffMs: 10 });
  const err = await rejectsWithCode(down.exists('x'), 'IO');
  assert.match(err.message, /^HEAD http:\/\/127\.0\.0\.1:\d+\/b-x\/x: ECONNREFUSED \(3 attempts\)$/);
  assert.ok(Date.now() - start < 5000, `took ${Date.now() - start} ms`);
});

test('lost answers, SlowDown and hung requests are retried (a create whose answer was lost still reports true), 4xx never; too many failures are IO', async (t) => {
  const store = await newStore(t);
  const server = await s3(t);
  if (!store || !server) return;
  const queue: Fault[] = [];
  const proxy = await startFaultProxy(server.config.endpoint, () => queue.shift() ?? 'pass');
  t.after(() => proxy.close());
  const bucket = /^s3:\/\/([^/]+)/.exec(store.location)![1]!;
  const through = (tuning: S3Tuning) => new S3Store({ ...server.config, endpoint: proxy.url }, bucket, 'repo/', { backoffMs: 10, ...tuning });
  const data = randomBytes(1000);
  queue.push('lose-answer', { status: 503, code: 'SlowDown' }, 'hang');
  assert.equal(await through({ timeoutMs: 300 }).create('lost', data), true);
  assert.equal(queue.length, 0);
  assert.deepEqual(Buffer.from((await store.get('lost', 1000))!), data);
  assert.equal(await through({}).create('lost', data), false);
  const few = through({ timeoutMs: 200, retries: 1 });
  queue.push({ status: 500, code: 'InternalError' }, 'hang');
  assert.match((await rejectsWithCode(few.exists('lost'), 'IO')).message, /^HEAD http:\/\/127\.0\.0\.1:\d+\/vdisk-\w+\/repo\/lost: no answer within 0\.2 s \(2 attempts\)$/);
  queue.push({ status: 500, code: 'InternalError' }, { status: 500, code: 'InternalError' });
  assert.match((await rejectsWithCode(few.get('lost', 1000), 'IO')).message, /: 500 InternalError \(2 attempts\)$/);
  queue.push({ status: 400, code: 'InvalidArgument' }, 'pass');
  assert.match((await rejectsWithCode(few.get('lost', 1000), 'IO')).message, /^s3:\/\/vdisk-\w+\/repo\/lost: 400 InvalidArgument$/);
  assert.deepEqual(queue, ['pass']);
});

test('backup init on S3 creates the bucket, writes the config, and refuses a repository or a prefix holding objects', async (t) => {
  const server = await s3(t);
  if (!server) return;
  const bucket = bucketName();
  const opts = { env: server.env };
  await initRepository(`s3://${bucket}/backups/web`, opts);
  const store = new S3Store(server.config, bucket, 'backups/web/');
  assert.match(new TextDecoder().decode((await store.get(CONFIG_NAME, 1000))!), /"format": "vdisk-backup"/);
  assert.match((await rejectsWithCode(initRepository(`s3://${bucket}/backups/web/`, opts), 'USAGE')).message, /is a backup repository already$/);
  assert.match((await rejectsWithCode(initRepository(`s3://${bucket}/backups`, opts), 'USAGE')).message, /not empty and not a backup repository; give an empty or new prefix \(it holds web\/vdisk-backup\.json\)$/);
  await initRepository(`s3://${bucket}/backups/other`, opts);
  await rejectsWithCode(initRepository('s3://Bad_Bucket/x', opts), 'USAGE');
});
