#!/usr/bin/env bash
# The main job: the whole "MNIST basics" chapter on real MNIST (fetched on first use), printed
# stage by stage, and written as a self-contained HTML report.
set -euo pipefail
build=${1:-build/release}
"$build/ember" chapter --report "$build/report"
