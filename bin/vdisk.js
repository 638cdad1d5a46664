#!/usr/bin/env node
// vdisk command line: runs the compiled CLI (npm run build / npm ci produce dist/).
import { main } from '../dist/src/cli/main.js';

process.exitCode = await main(process.argv.slice(2));
