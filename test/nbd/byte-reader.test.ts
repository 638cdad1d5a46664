import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { ByteReader } from '../../src/nbd/byte-reader.js';

test('exact reads span chunks and split them; the end of the stream before a whole read gives undefined', async () => {
  const stream = new PassThrough();
  const reader = new ByteReader(stream);
  stream.write(Buffer.from([1, 2, 3]));
  stream.write(Buffer.from([4, 5, 6, 7]));
  assert.deepEqual([...(await reader.read(2))!], [1, 2]);
  assert.deepEqual([...(await reader.read(4))!], [3, 4, 5, 6]);
  assert.deepEqual([...(await reader.read(0))!], []);
  const pending = reader.read(3);
  stream.write(Buffer.from([8]));
  stream.end();
  assert.equal(await pending, undefined, 'two bytes were left when the stream ended');
  assert.deepEqual([...(await reader.read(2))!], [7, 8], 'what had arrived can still be read');
  assert.equal(await reader.read(1), undefined);
});

test('a stream that fails ends the reads', async () => {
  const stream = new PassThrough();
  const reader = new ByteReader(stream);
  const pending = reader.read(4);
  stream.destroy(new Error('reset'));
  assert.equal(await pending, undefined);
});
