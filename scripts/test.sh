#!/usr/bin/env bash
# `npm test`: every test. Installs system packages (as root) and the code-server runtime if
# missing, builds what tests run against, then runs vitest in every workspace and ends with a
# plain "N passed, N failed" line.
set -euo pipefail
export NEXT_TELEMETRY_DISABLED=1
# The SDK's notice that releases after early 2027 need Node 22 repeats in every test process.
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true
cd "$(dirname "$0")/.."

bash scripts/setup-system.sh
node instance/runtime/install.mjs
npm run --silent build -w instance/extension
node scripts/build-if-stale.mjs
report_dir=$(mktemp -d)
status=0
echo "▶ typecheck"
# Counted as one check in the summary, so a type error fails the run with the line printed.
if npm run typecheck; then echo pass > "$report_dir/typecheck.status"; else echo fail > "$report_dir/typecheck.status"; status=1; fi
for ws in portal; do
  echo "▶ tests: $ws"
  (cd "$ws" && npx vitest run --reporter=default --reporter=json --outputFile.json="$report_dir/$ws.json") || status=$?
done
node scripts/test-summary.mjs "$report_dir" || status=$?
exit $status
