import assert from 'node:assert/strict';
import { test } from 'node:test';
import { join } from 'node:path';
import { DirStore } from '../../src/backup/dir-store.js';
import { openStore, parseS3Location } from '../../src/backup/open-store.js';
import { S3Store } from '../../src/backup/s3-store.js';
import { rejectsWithCode, throwsWithCode } from '../helpers/assert-error.js';
import { tempDir } from '../helpers/tmp.js';

test('s3:// locations: bucket and prefix; bad bucket names and prefix parts are USAGE', () => {
  assert.deepEqual(parseS3Location('s3://bucket'), { bucket: 'bucket', prefix: '' });
  assert.deepEqual(parseS3Location('s3://bucket/'), { bucket: 'bucket', prefix: '' });
  assert.deepEqual(parseS3Location('s3://my.bucket-1/a/b c/'), { bucket: 'my.bucket-1', prefix: 'a/b c/' });
  for (const bad of ['s3://', 's3://ab', 's3://Upper', 's3://under_score/x', 's3://b-ok/a//b', 's3://b-ok/a/../b', 's3://b-ok/./b']) throwsWithCode(() => parseS3Location(bad), 'USAGE');
});

test('openStore: s3:// is an S3Store (credentials needed), anything else a directory (created for init); --endpoint only for s3://', async () => {
  const dir = join(tempDir(), 'new', 'repo');
  assert.ok((await openStore(dir, {}, true)) instanceof DirStore);
  assert.match((await rejectsWithCode(openStore(dir, { endpoint: 'http://127.0.0.1:1' }), 'USAGE')).message, /--endpoint is for s3:\/\/ repositories/);
  const env = { HOME: join(tempDir(), 'nowhere'), AWS_ACCESS_KEY_ID: 'K', AWS_SECRET_ACCESS_KEY: 'S' };
  const store = await openStore('s3://bucket/a/b', { endpoint: 'http://127.0.0.1:1', env });
  assert.ok(store instanceof S3Store);
  assert.equal(store.location, 's3://bucket/a/b');
  assert.equal((await openStore('s3://bucket', { env })).location, 's3://bucket');
  await rejectsWithCode(openStore('s3://bucket/a', { env: { HOME: env.HOME } }), 'USAGE');
});
