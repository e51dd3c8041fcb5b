#!/usr/bin/env bash
# `npm test`: every test. Installs system packages (as root) and the code-server runtime if
# missing, builds what tests run against, then runs vitest in every workspace and ends with a
# plain "N passed, N failed" line.
set -euo pipefail
export NEXT_TELEMETRY_DISABLED=1
cd "$(dirname "$0")/.."

bash scripts/setup-system.sh
node instance/runtime/install.mjs
node scripts/build-if-stale.mjs
echo "▶ typecheck"
npm run typecheck

report_dir=$(mktemp -d)
status=0
for ws in portal; do
  echo "▶ tests: $ws"
  (cd "$ws" && npx vitest run --reporter=default --reporter=json --outputFile.json="$report_dir/$ws.json") || status=$?
done
node scripts/test-summary.mjs "$report_dir" || status=$?
exit $status
