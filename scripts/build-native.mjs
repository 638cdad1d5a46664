// Builds the optional native helper (native/vdisk_native.c) with the node-gyp
// that npm ships. A failed build is not fatal: vdisk then uses its pure-JS
// fallback (slower on sparse files), and `vdisk info --json` says which is in use.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

const gyp = process.env.npm_config_node_gyp
  ?? join(dirname(process.execPath), '../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js');
if (!existsSync(gyp)) {
  console.warn('vdisk: node-gyp not found; using the pure-JS file helper');
  process.exit(0);
}
// Offline machines carry Node's headers in /usr/include/node; point node-gyp there
// rather than letting it try to download them.
const args = [gyp, 'rebuild'];
if (!process.env.npm_config_nodedir && existsSync('/usr/include/node/node_api.h')) args.push('--nodedir=/usr');
const r = spawnSync(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'] });
if (r.status !== 0) console.warn('vdisk: native helper did not build; using the pure-JS file helper');
