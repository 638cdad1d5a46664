import assert from 'node:assert/strict';
import { test } from 'node:test';
import { appendSink } from '../../src/formats/sequential.js';
import { rejectsWithCode } from '../helpers/assert-error.js';

/** A sink over an in-memory log of positioned writes. */
function logged(keep?: (buf: Uint8Array) => boolean) {
  const puts: [number, number[]][] = [];
  const sink = appendSink((buf, at) => void puts.push([at, [...buf]]), keep);
  return { sink, puts };
}

test('appendSink appends at the running length and counts what it was given', async () => {
  const { sink, puts } = logged();
  await sink.write(Uint8Array.of(1, 2, 3));
  await sink.write(Uint8Array.of(4));
  assert.equal(sink.size, 4);
  assert.deepEqual(puts, [
    [0, [1, 2, 3]],
    [3, [4]],
  ]);
});

test('appendSink rewrites bytes already written and refuses a rewrite past the end', async () => {
  const { sink, puts } = logged();
  await sink.write(new Uint8Array(8));
  await sink.writeAt!(Uint8Array.of(9, 9), 6);
  assert.deepEqual(puts.at(-1), [6, [9, 9]]);
  const err = await rejectsWithCode(sink.writeAt!(Uint8Array.of(9, 9), 7), 'USAGE');
  assert.match(err.message, /9 is past 8/);
  assert.equal(puts.length, 2);
});

test('appendSink counts a piece keep refuses without writing it, and writes the next one after it', async () => {
  const { sink, puts } = logged((buf) => buf.some((b) => b !== 0));
  await sink.write(new Uint8Array(4096));
  await sink.write(Uint8Array.of(7));
  assert.equal(sink.size, 4097);
  assert.deepEqual(puts, [[4096, [7]]]);
});
