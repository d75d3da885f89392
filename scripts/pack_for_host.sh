#!/usr/bin/env bash
# Packs what it takes to run ember's tests and benchmarks on another x86-64 Linux machine that
# has no compiler, no Debian packages and no network (say, the host of a borrowed GPU machine, to
# check the AVX-512 kernels on a CPU that has them): the built binaries, the shared libraries they
# link that such a machine may lack, MNIST gzipped, and scripts/run_on_host.sh.
#
#   make build && scripts/pack_for_host.sh [build/release] [out.tgz]
#   # there, in a copy of this repository:  tar -xzf out.tgz && bash host/run_on_host.sh OUTDIR
#
# The archive is about 25 MB. MNIST comes from ember's cache ($EMBER_DATA or ~/.cache/ember,
# filled by `ember fetch mnist`).
set -euo pipefail

build=${1:-build/release}
out=${2:-ember-host.tgz}
data=${EMBER_DATA:-$HOME/.cache/ember}/mnist
for f in "$build/ember" "$build/bench/bench_workloads" "$build/bench/bench_matmul"; do
  [ -x "$f" ] || { echo "pack_for_host: $f is missing: build first (make build)" >&2; exit 2; }
done
[ -f "$data/train-images-idx3-ubyte" ] || {
  echo "pack_for_host: no MNIST in $data: run '$build/ember fetch mnist' first" >&2
  exit 2
}

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/host/bin/bench" "$stage/host/lib" "$stage/host/mnist"
mapfile -t tests < <(find "$build" -maxdepth 1 -type f -name 'test_*' -perm -u+x | sort)
cp "$build/ember" "${tests[@]}" "$stage/host/bin/"
cp "$build"/bench/bench_* "$stage/host/bin/bench/"
strip "$stage"/host/bin/* "$stage"/host/bin/bench/* 2>/dev/null || true
# The libraries outside libc that the binaries link; run_on_host.sh uses a copy only where the
# host lacks it (the host's own libstdc++ is kept when it is there, so its Python still works).
{ ldd "$build/ember" "${tests[@]}" || true; } | awk '$3 ~ /^\// {print $3}' | sort -u |
  { grep -v -E '/(libc|libm|ld-linux[^/]*|libpthread|libdl|librt)\.so' || true; } |
  while read -r lib; do cp -L "$lib" "$stage/host/lib/"; done
for f in "$data"/*-ubyte; do gzip -c "$f" > "$stage/host/mnist/$(basename "$f").gz"; done
cp "$(dirname "$0")/run_on_host.sh" "$stage/host/"
tmp="$out.tmp.$$"
tar -czf "$tmp" -C "$stage" host
mv "$tmp" "$out"
echo "pack_for_host: wrote $out ($(du -h "$out" | cut -f1))"
