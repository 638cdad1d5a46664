#!/usr/bin/env node
// vdisk command line: runs the bundled CLI (npm run build / npm ci produce it, see scripts/bundle-cli.mjs).
import { main } from '../dist/src/cli/vdisk.bundle.js';

process.exitCode = await main(process.argv.slice(2));
