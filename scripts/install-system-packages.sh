#!/usr/bin/env bash
# Debian packages the tests need beyond the machine's toolchains, installed when missing:
#   faketime  libfaketime, for the date-independence runs (README, "Testing").
#   chromium  headless, drives the demo site through the tracker (tests/collector).
#   wrk       HTTP load for the collector benchmark (bench/collector_load.py).
# Needs root and apt (as on our machines and CI); elsewhere it names what to install and stops.
set -euo pipefail

packages=(faketime chromium wrk)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  echo "install these Debian packages first (apt-get install ${missing[*]}), then run again" >&2
  exit 1
fi
echo "[system-packages] installing ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
