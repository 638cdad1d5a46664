import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { resolveS3Config } from '../../src/backup/s3-config.js';
import { throwsWithCode } from '../helpers/assert-error.js';
import { tempDir } from '../helpers/tmp.js';

/** An environment whose AWS files are `credentials` and `config` in a new directory (HOME points there too). */
function filesEnv(credentials: string, config: string): Record<string, string> {
  const dir = tempDir('vdisk-aws-');
  writeFileSync(join(dir, 'credentials'), credentials);
  writeFileSync(join(dir, 'config'), config);
  return { HOME: dir, AWS_SHARED_CREDENTIALS_FILE: join(dir, 'credentials'), AWS_CONFIG_FILE: join(dir, 'config') };
}

const CREDENTIALS = `# shared credentials
[default]
aws_access_key_id = DEFAULTKEY
aws_secret_access_key = default/secret

[work]
AWS_ACCESS_KEY_ID=WORKKEY
aws_secret_access_key =  work+secret=
aws_session_token = TOKEN
`;
const CONFIG = `[default]
region = eu-west-3
[profile work]
region = ap-south-1
s3 =
  addressing_style = path
[profile cfgonly]
aws_access_key_id = CFGKEY
aws_secret_access_key = cfgsecret
`;

test('credentials come from the environment first, then the profile in the credentials file, then the config file', () => {
  const files = filesEnv(CREDENTIALS, CONFIG);
  assert.deepEqual(resolveS3Config(undefined, { ...files, AWS_ACCESS_KEY_ID: 'ENVKEY', AWS_SECRET_ACCESS_KEY: 'envsecret', AWS_SESSION_TOKEN: 'T' }), {
    endpoint: 'https://s3.eu-west-3.amazonaws.com',
    region: 'eu-west-3',
    accessKeyId: 'ENVKEY',
    secretAccessKey: 'envsecret',
    sessionToken: 'T',
  });
  assert.deepEqual(resolveS3Config(undefined, files), { endpoint: 'https://s3.eu-west-3.amazonaws.com', region: 'eu-west-3', accessKeyId: 'DEFAULTKEY', secretAccessKey: 'default/secret', sessionToken: undefined });
  const work = resolveS3Config('http://127.0.0.1:7480/', { ...files, AWS_PROFILE: 'work' });
  assert.deepEqual(work, { endpoint: 'http://127.0.0.1:7480', region: 'ap-south-1', accessKeyId: 'WORKKEY', secretAccessKey: 'work+secret=', sessionToken: 'TOKEN' });
  assert.equal(resolveS3Config(undefined, { ...files, AWS_PROFILE: 'cfgonly' }).accessKeyId, 'CFGKEY');
});

test('region and endpoint: AWS_REGION over AWS_DEFAULT_REGION over the config; --endpoint over AWS_ENDPOINT_URL_S3 over AWS_ENDPOINT_URL', () => {
  const files = filesEnv(CREDENTIALS, CONFIG);
  assert.equal(resolveS3Config(undefined, { ...files, AWS_REGION: 'us-west-2', AWS_DEFAULT_REGION: 'eu-north-1' }).endpoint, 'https://s3.us-west-2.amazonaws.com');
  assert.equal(resolveS3Config(undefined, { ...files, AWS_DEFAULT_REGION: 'eu-north-1' }).region, 'eu-north-1');
  const urls = { AWS_ENDPOINT_URL_S3: 'http://s3.local:1', AWS_ENDPOINT_URL: 'http://all.local:2' };
  assert.equal(resolveS3Config('https://given.example/', { ...files, ...urls }).endpoint, 'https://given.example');
  assert.equal(resolveS3Config(undefined, { ...files, ...urls }).endpoint, 'http://s3.local:1');
  assert.equal(resolveS3Config(undefined, { ...files, AWS_ENDPOINT_URL: 'http://all.local:2' }).endpoint, 'http://all.local:2');
  assert.equal(resolveS3Config(undefined, filesEnv(CREDENTIALS, '')).region, 'us-east-1');
  assert.match(throwsWithCode(() => resolveS3Config('ftp://x', files), 'USAGE').message, /--endpoint 'ftp:\/\/x' is not an http or https URL/);
  assert.match(throwsWithCode(() => resolveS3Config(undefined, { ...files, AWS_ENDPOINT_URL: 'nope' }), 'USAGE').message, /AWS_ENDPOINT_URL 'nope' is not a URL/);
});

test('no credentials, half of them, or an unknown profile are USAGE errors saying what to set', () => {
  const empty = filesEnv('', '');
  assert.match(throwsWithCode(() => resolveS3Config(undefined, empty), 'USAGE').message, /^no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or give profile 'default' /);
  assert.match(throwsWithCode(() => resolveS3Config(undefined, { ...filesEnv(CREDENTIALS, CONFIG), AWS_PROFILE: 'nobody' }), 'USAGE').message, /profile 'nobody'/);
  assert.match(throwsWithCode(() => resolveS3Config(undefined, { ...empty, AWS_ACCESS_KEY_ID: 'K' }), 'USAGE').message, /^AWS_ACCESS_KEY_ID is set without AWS_SECRET_ACCESS_KEY; set both$/);
  const missingFiles = { HOME: join(tempDir(), 'nowhere') };
  assert.match(throwsWithCode(() => resolveS3Config(undefined, missingFiles), 'USAGE').message, /nowhere\/\.aws\/credentials/);
});
