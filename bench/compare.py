#!/usr/bin/python3
"""Runs ember's and PyTorch's versions of the speed workloads one after the other on this machine
and prints one table with the ratio per workload (PyTorch seconds / ember seconds).

    /usr/bin/python3 bench/compare.py [--build build/release] [--runs 3] [--only linear,mlp]

Needs Debian's python3-torch for the PyTorch half (skipped, saying so, without it) and real MNIST
in ember's cache (`ember fetch mnist`).
"""
import argparse
import json
import os
import platform
import subprocess
import sys

here = os.path.dirname(os.path.abspath(__file__))


def run_json(cmd):
    out = subprocess.run(cmd, check=False, capture_output=True, text=True)
    if out.returncode == 77:
        return None
    if out.returncode != 0:
        sys.exit(f"compare: {' '.join(cmd)} failed: {out.stderr.strip()}")
    return {j["workload"]: j for j in (json.loads(l) for l in out.stdout.splitlines() if l.startswith("{"))}


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(here, "..", "build", "release"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", default="")
    args = ap.parse_args()
    extra = ["--only", args.only] if args.only else []
    ember = run_json([os.path.join(args.build, "bench", "bench_workloads"), "--json", "--runs", str(args.runs)] + extra)
    torch = run_json([sys.executable, os.path.join(here, "pytorch_workloads.py"), "--runs", str(args.runs)] + extra)
    print(f"machine: {cpu_name()}, {os.cpu_count()} cores; median of {args.runs} runs after a warm-up")
    print(f"{'workload':<12} {'ember s':>9} {'torch s':>9} {'ratio':>7} {'ember img/s':>12} {'torch img/s':>12} "
          f"{'ember acc':>9} {'torch acc':>9} {'ember MB':>9}")
    for name, e in ember.items():
        t = (torch or {}).get(name)
        ratio = f"{t['seconds'] / e['seconds']:.1f}x" if t else "-"
        print(f"{name:<12} {e['seconds']:>9.3f} {t['seconds'] if t else float('nan'):>9.3f} {ratio:>7} "
              f"{e['images_per_s']:>12.0f} {t['images_per_s'] if t else float('nan'):>12.0f} "
              f"{e['accuracy']:>9.4f} {t['accuracy'] if t else float('nan'):>9.4f} {e['peak_rss_mb']:>9.1f}")
    if torch is None:
        print("(PyTorch is not installed: apt-get install python3-torch for the right-hand columns)")
    else:
        slow = next((t for t in torch.values() if t.get("slow_blas")), None)
        if slow is not None:
            print(f"(PyTorch's matmul ran at {slow['matmul_gflops']:.1f} GFLOP/s: it links the reference BLAS, so "
                  "its times are not a fair comparison; apt-get install libopenblas0-pthread and run again)")


if __name__ == "__main__":
    main()
