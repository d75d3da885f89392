#!/usr/bin/env bash
# Runs the binaries packed by scripts/pack_for_host.sh on the machine where the archive was
# unpacked (from the root of a copy of this repository, so bench/*.py are at hand):
#
#   tar -xzf ember-host.tgz && bash host/run_on_host.sh OUTDIR [quick]
#
# Writes to OUTDIR: cpu.txt (the CPU and its vector features), tests.txt (every test binary with
# the best instruction set, then the kernel tests with EMBER_ISA=avx2), matmul.txt (bench_matmul
# --quick) and workloads.txt (bench_workloads, best path and EMBER_ISA=avx2, then PyTorch's
# workloads when that machine's python3 has torch). The benchmarks run on two CPUs of distinct
# cores with EMBER_NUM_THREADS=2, as on the 2-core machines the README's tables come from.
# "quick" skips PyTorch and the avx2 workload run.
set -uo pipefail

out=${1:?usage: run_on_host.sh OUTDIR [quick]}
quick=${2:-}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(pwd)
mkdir -p "$out"
out=$(cd "$out" && pwd)

# MNIST into a private cache.
export EMBER_DATA
EMBER_DATA=$(mktemp -d)
mkdir -p "$EMBER_DATA/mnist"
for f in "$here"/mnist/*.gz; do gunzip -c "$f" > "$EMBER_DATA/mnist/$(basename "$f" .gz)"; done

# Only the libraries the host lacks (or has too old a version of).
libs=$(mktemp -d)
for lib in "$here"/lib/*; do
  name=$(basename "$lib")
  if ldd "$here/bin/ember" 2>&1 | grep 'not found' | grep -q "$name"; then cp "$lib" "$libs/"; fi
done
export LD_LIBRARY_PATH="$libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

# test_app runs the ember binary from the build directory compiled into it: point that path here.
built=$(grep -a -o -m1 -E '/[[:alnum:]/._-]*/build/[[:alnum:]_-]+' "$here/bin/test_app" | head -1 || true)
if [ -n "$built" ] && [ ! -e "$built" ]; then
  mkdir -p "$(dirname "$built")" && ln -s "$here/bin" "$built"
fi

cpus=$(lscpu -p=CPU,CORE | grep -v '^#' | sort -t, -k2,2n -u | head -2 | cut -d, -f1 | paste -sd,)
pin() { taskset -c "$cpus" "$@"; }

{
  lscpu | grep -E 'Model name|^CPU\(s\)|Thread|L1d|L2|L3'
  grep -m1 -o -w -E 'avx2|fma|avx512f|avx512bw|avx512vl|amx_tile' /proc/cpuinfo | sort -u | paste -sd' '
  echo "benchmarks pinned to CPUs $cpus; extra libraries: $(ls "$libs" | paste -sd' ')"
} > "$out/cpu.txt" 2>&1

{
  for t in "$here"/bin/test_*; do
    echo "== $(basename "$t")"
    (cd "$repo" && timeout 600 "$t" --gtest_brief=1 2>&1 | tail -6)
  done
  echo "== test_kernels with EMBER_ISA=avx2"
  EMBER_ISA=avx2 timeout 300 "$here/bin/test_kernels" --gtest_brief=1 2>&1 | tail -4
} > "$out/tests.txt" 2>&1

export EMBER_NUM_THREADS=2
pin timeout 300 "$here/bin/bench/bench_matmul" --quick > "$out/matmul.txt" 2>&1
{
  echo "== ember, best path"
  pin timeout 600 "$here/bin/bench/bench_workloads" --runs 3
  if [ "$quick" != quick ]; then
    echo "== ember, EMBER_ISA=avx2"
    EMBER_ISA=avx2 pin timeout 600 "$here/bin/bench/bench_workloads" --runs 3
    if python3 -c 'import torch' 2>/dev/null; then
      echo "== PyTorch $(python3 -c 'import torch; print(torch.__version__)'), best of 1 and 2 threads"
      (unset LD_LIBRARY_PATH; pin timeout 900 python3 "$repo/bench/pytorch_workloads.py" --runs 3)
    fi
  fi
} > "$out/workloads.txt" 2>&1
echo "run_on_host: results in $out"
