import type { Command } from 'commander';

/** Adds `--endpoint` to a command: the server of an s3:// repository; its value goes to the backup functions as `{ endpoint }`. */
export function withEndpoint(cmd: Command): Command {
  return cmd.option('--endpoint <url>', 'S3 endpoint of an s3://BUCKET/PREFIX repository (default: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, else AWS for the region)');
}
