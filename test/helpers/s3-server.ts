import { execFile } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, type TestContext } from 'node:test';
import { promisify } from 'node:util';
import type { S3Config } from '../../src/backup/s3-config.js';
import { REPO_ROOT } from './cli.js';
import { needTools } from './oracles.js';

/** A running radosgw (scripts/start-s3.sh): its S3 config, and the environment that makes vdisk use it. */
export interface S3Server {
  config: S3Config;
  /** AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL_S3 and AWS_REGION for it. */
  env: Record<string, string>;
}

const SCRIPT = join(REPO_ROOT, 'scripts', 'start-s3.sh');
/** What start-s3.sh needs. */
const TOOLS = ['ceph-mon', 'ceph-osd', 'radosgw', 'radosgw-admin', 'monmaptool', 'ceph'];
const run = promisify(execFile);

/**
 * Registers, for the test file calling it (at top level), one radosgw
 * started on first use and stopped when the file ends. The function it
 * returns gives the server, or undefined after skipping the test when the
 * Ceph tools are missing (failing it instead when VDISK_REQUIRE_ORACLES=1).
 */
export function s3Server(): (t: TestContext) => Promise<S3Server | undefined> {
  let started: Promise<{ server: S3Server; dir: string }> | undefined;
  after(async () => {
    if (started) await run(SCRIPT, ['stop', (await started).dir]);
  });
  return async (t) => {
    if (!needTools(t, ...TOOLS)) return undefined;
    started ??= run(SCRIPT, ['start'], { timeout: 120_000 }).then(({ stdout }) => {
      const vars = Object.fromEntries(stdout.trim().split('\n').map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]));
      const config = { endpoint: vars.VDISK_S3_ENDPOINT!, region: 'us-east-1', accessKeyId: vars.VDISK_S3_ACCESS_KEY!, secretAccessKey: vars.VDISK_S3_SECRET_KEY! };
      const env = { AWS_ACCESS_KEY_ID: config.accessKeyId, AWS_SECRET_ACCESS_KEY: config.secretAccessKey, AWS_ENDPOINT_URL_S3: config.endpoint, AWS_REGION: config.region };
      return { server: { config, env }, dir: vars.VDISK_S3_DIR! };
    });
    return (await started).server;
  };
}

/** A port on 127.0.0.1 that nothing listens on (it was free a moment ago): an S3 endpoint that is not there. */
export async function closedPort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}
