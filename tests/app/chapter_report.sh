#!/usr/bin/env bash
# Writes the chapter's report (a quick run) into $1, for tests/viz/render_report.sh to open in
# Chromium. EMBER_BIN is the ember binary.
set -euo pipefail
"${EMBER_BIN:?EMBER_BIN must name the ember binary}" chapter --quick --json --report "$1" >/dev/null
