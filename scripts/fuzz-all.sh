#!/bin/sh
# The long fuzz run (docs/security.md): every format's target for $1 each
# (default 10m), at low priority, seeded from ../shared/fixtures/real/images
# when VDISK_REAL_FIXTURES is not set and that directory exists; prints the
# counts per format and exits 1 on any finding (written under fuzz-findings/).
set -e
cd "$(dirname "$0")/.."
if [ -z "$VDISK_REAL_FIXTURES" ] && [ -d ../shared/fixtures/real/images ]; then
  VDISK_REAL_FIXTURES=$(cd ../shared/fixtures/real/images && pwd)
  export VDISK_REAL_FIXTURES
fi
npm run build
exec nice node dist/fuzz/run.js --format all --time "${1:-10m}" --seed "${2:-$(date +%s)}"
