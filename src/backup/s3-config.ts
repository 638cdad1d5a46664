import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { DiskImageError } from '../errors.js';
import { parseIni, type IniSections } from '../util/ini.js';

/** Where and as whom an S3 store is reached. */
export interface S3Config {
  /** The endpoint's base URL, without a trailing slash (requests are path-style: ENDPOINT/BUCKET/KEY). */
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** Environment variables and files the resolution reads (process.env by default; tests pass their own). */
export type Env = Record<string, string | undefined>;

/** The INI file at `path`, or an empty one when there is no such file; unreadable otherwise is USAGE. */
function readIni(path: string): IniSections {
  try {
    return parseIni(readFileSync(path, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
    throw new DiskImageError('USAGE', `cannot read AWS file ${path}: ${(err as Error).message}`, { path });
  }
}

/** A non-empty value, or undefined. */
function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

/** The endpoint URL `url` checked (http or https) and without its trailing slashes; USAGE otherwise. */
function checkEndpoint(url: string, from: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new DiskImageError('USAGE', `${from} '${url}' is not a URL (give e.g. https://s3.example.com or http://127.0.0.1:7480)`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new DiskImageError('USAGE', `${from} '${url}' is not an http or https URL`);
  if (parsed.search || parsed.hash) throw new DiskImageError('USAGE', `${from} '${url}' must not have a query or fragment`);
  return parsed.href.replace(/\/+$/, '');
}

/** The endpoint URL to use and where it came from: --endpoint, AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, else AWS's for the region. */
function endpointSetting(endpoint: string | undefined, env: Env, region: string): [string, string] {
  if (endpoint !== undefined) return [endpoint, '--endpoint'];
  for (const name of ['AWS_ENDPOINT_URL_S3', 'AWS_ENDPOINT_URL']) {
    const value = nonEmpty(env[name]);
    if (value) return [value, name];
  }
  return [`https://s3.${region}.amazonaws.com`, 'the region'];
}

/**
 * Resolves the S3 endpoint, region and credentials the way the AWS tools
 * do (docs/backup.md, "S3"):
 *
 * - credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (and
 *   AWS_SESSION_TOKEN); else profile AWS_PROFILE (default `default`): its
 *   section in the shared credentials file (AWS_SHARED_CREDENTIALS_FILE,
 *   default ~/.aws/credentials), else its section in the config file
 *   (AWS_CONFIG_FILE, default ~/.aws/config: `[profile NAME]`, or
 *   `[default]`). None is USAGE, naming what to set.
 * - region: AWS_REGION, AWS_DEFAULT_REGION, the profile's `region` in the
 *   config file, else us-east-1.
 * - endpoint: `endpoint` (--endpoint), AWS_ENDPOINT_URL_S3,
 *   AWS_ENDPOINT_URL, else https://s3.REGION.amazonaws.com.
 */
export function resolveS3Config(endpoint: string | undefined, env: Env = process.env): S3Config {
  const home = nonEmpty(env.HOME) ?? homedir();
  const profile = nonEmpty(env.AWS_PROFILE) ?? 'default';
  const configFile = nonEmpty(env.AWS_CONFIG_FILE) ?? join(home, '.aws', 'config');
  const config = readIni(configFile).get(profile === 'default' ? 'default' : `profile ${profile}`);
  const region = nonEmpty(env.AWS_REGION) ?? nonEmpty(env.AWS_DEFAULT_REGION) ?? nonEmpty(config?.get('region')) ?? 'us-east-1';
  const base = { endpoint: checkEndpoint(...endpointSetting(endpoint, env, region)), region };
  const envKey = nonEmpty(env.AWS_ACCESS_KEY_ID);
  const envSecret = nonEmpty(env.AWS_SECRET_ACCESS_KEY);
  if (envKey && envSecret) return { ...base, accessKeyId: envKey, secretAccessKey: envSecret, sessionToken: nonEmpty(env.AWS_SESSION_TOKEN) };
  if (envKey || envSecret) throw new DiskImageError('USAGE', `${envKey ? 'AWS_ACCESS_KEY_ID' : 'AWS_SECRET_ACCESS_KEY'} is set without ${envKey ? 'AWS_SECRET_ACCESS_KEY' : 'AWS_ACCESS_KEY_ID'}; set both`);
  const credentialsFile = nonEmpty(env.AWS_SHARED_CREDENTIALS_FILE) ?? join(home, '.aws', 'credentials');
  for (const section of [readIni(credentialsFile).get(profile), config]) {
    const key = nonEmpty(section?.get('aws_access_key_id'));
    const secret = nonEmpty(section?.get('aws_secret_access_key'));
    if (key && secret) return { ...base, accessKeyId: key, secretAccessKey: secret, sessionToken: nonEmpty(section?.get('aws_session_token')) };
  }
  throw new DiskImageError('USAGE', `no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or give profile '${profile}' aws_access_key_id and aws_secret_access_key in ${credentialsFile} (AWS_PROFILE picks the profile, AWS_SHARED_CREDENTIALS_FILE the file)`);
}
