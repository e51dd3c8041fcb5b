#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages the project and its tests need.
# Idempotent: when everything is present it only prints "system packages: ok".
#   sudo scripts/setup-system.sh
set -euo pipefail

PACKAGES=(
  # code-server's native modules (kerberos, sqlite3, node-pty, ...) compile from source
  build-essential python3 pkg-config libkrb5-dev libxkbfile-dev libsecret-1-dev
  # browser tests: playwright-core drives /usr/bin/chromium
  chromium
  # instance sandbox
  bubblewrap
  # general
  git ca-certificates procps
)

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "setup-system: dpkg-query not found; this script supports Debian/Ubuntu only." >&2
  echo "Install the equivalents of: ${PACKAGES[*]}" >&2
  exit 1
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
  status="$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null || true)"
  # "ii " = desired install, currently installed
  if [[ "$status" != ii* ]]; then
    missing+=("$pkg")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "system packages: ok"
  exit 0
fi

if [[ "$(id -u)" -ne 0 ]]; then
  echo "system packages missing: ${missing[*]}" >&2
  echo "install them as root with:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
  echo "(or run: sudo $0)" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
start=$SECONDS
echo "system packages missing: ${missing[*]}"
log="$(mktemp -t setup-system.XXXXXX.log)"
run() { # run quietly into $log; show its tail if it fails
  if ! "$@" >>"$log" 2>&1; then
    echo "setup-system: failed: $*" >&2
    tail -n 30 "$log" >&2
    echo "(full log: $log)" >&2
    exit 1
  fi
}
echo "[1/2] apt-get update"
run apt-get update
echo "[2/2] apt-get install --no-install-recommends ${missing[*]} (log: $log)"
run apt-get install -y --no-install-recommends "${missing[@]}"

# Re-check so a silently skipped package is reported.
still=()
for pkg in "${missing[@]}"; do
  status="$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null || true)"
  [[ "$status" == ii* ]] || still+=("$pkg")
done
if [[ ${#still[@]} -ne 0 ]]; then
  echo "setup-system: still missing after install: ${still[*]}" >&2
  exit 1
fi
rm -f "$log"
echo "system packages: installed ${missing[*]} in $((SECONDS - start)) s"
