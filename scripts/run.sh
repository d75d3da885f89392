#!/usr/bin/env bash
# The main job: until the chapter pipeline exists, the quadratic (roller-coaster) example.
set -euo pipefail
build=${1:-build/release}
"$build/examples/quadratic"
