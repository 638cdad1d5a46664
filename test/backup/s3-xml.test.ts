import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseListPage } from '../../src/backup/s3-xml.js';
import { throwsWithCode } from '../helpers/assert-error.js';

test('a ListObjectsV2 page: keys URL- and XML-decoded, pages and prefixes; a malformed one is CORRUPT', () => {
  const xml = `<?xml version="1.0"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><IsTruncated>true</IsTruncated>
    <Contents><Key>p/a%20b+c%2B%26&amp;x</Key><LastModified>2026-12-07T01:02:03.000Z</LastModified><Size>12</Size></Contents>
    <Contents><Key>p/%C3%A9&#38;&#x3c;</Key><LastModified>2026-12-07T01:02:04.500Z</LastModified><Size>0</Size></Contents>
    <CommonPrefixes><Prefix>p/sub%2F/</Prefix></CommonPrefixes><NextContinuationToken>tok&amp;en</NextContinuationToken></ListBucketResult>`;
  assert.deepEqual(parseListPage(xml, 's3://b'), {
    objects: [
      { key: 'p/a b c+&&x', size: 12, modifiedMs: Date.parse('2026-12-07T01:02:03Z') },
      { key: 'p/é&<', size: 0, modifiedMs: Date.parse('2026-12-07T01:02:04.500Z') },
    ],
    prefixes: ['p/sub//'],
    next: 'tok&en',
  });
  assert.deepEqual(parseListPage('<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>', 's3://b'), { objects: [], prefixes: [] });
  for (const bad of [
    '<Error><Code>x</Code></Error>',
    '<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>',
    '<ListBucketResult><Contents><Key>k</Key><Size>-1</Size><LastModified>2026-12-07T01:02:03Z</LastModified></Contents></ListBucketResult>',
    '<ListBucketResult><Contents><Key>k%zz</Key><Size>1</Size><LastModified>2026-12-07T01:02:03Z</LastModified></Contents></ListBucketResult>',
    '<ListBucketResult><Contents><Key>k</Key><Size>1</Size><LastModified>yesterday</LastModified></Contents></ListBucketResult>',
  ])
    throwsWithCode(() => parseListPage(bad, 's3://b'), 'CORRUPT');
});
