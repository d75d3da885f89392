#!/usr/bin/python3
"""The speed workloads of bench/bench_workloads.cpp, run in PyTorch (Debian's python3-torch).

Reads real MNIST from ember's cache ($EMBER_DATA or ~/.cache/ember, fetched by `ember fetch mnist`)
and prints one JSON object per workload: median wall seconds over --runs runs after a warm-up,
images/s, final accuracy, thread count. Each workload runs with 1 and with 2 threads and the
faster is kept, as the performance issue asks.
"""
import argparse
import gzip
import json
import os
import resource
import statistics
import sys
import time

try:
    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError as e:  # pragma: no cover
    print(f"pytorch_workloads: PyTorch is not installed ({e}); apt-get install python3-torch", file=sys.stderr)
    sys.exit(77)


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_mnist():
    root = os.environ.get("EMBER_DATA") or os.path.join(os.path.expanduser("~"), ".cache", "ember")
    d = os.path.join(root, "mnist")
    def f(name):
        p = os.path.join(d, name)
        return p if os.path.exists(p) else p + ".gz"
    tx = torch.from_numpy(read_idx(f("train-images-idx3-ubyte")).copy())
    ty = torch.from_numpy(read_idx(f("train-labels-idx1-ubyte")).astype(np.int64))
    vx = torch.from_numpy(read_idx(f("t10k-images-idx3-ubyte")).copy())
    vy = torch.from_numpy(read_idx(f("t10k-labels-idx1-ubyte")).astype(np.int64))
    return tx, ty, vx, vy


def sample(x, y):
    keep = (y == 3) | (y == 7)
    xs = x[keep].float().div(255).view(-1, 784)
    ys = (y[keep] == 3).float().unsqueeze(1)
    order = torch.cat([torch.nonzero(y[keep] == 3).view(-1), torch.nonzero(y[keep] == 7).view(-1)])
    return xs[order], ys[order]


def mnist_loss(pred, target):
    p = pred.sigmoid()
    return torch.where(target == 1, 1 - p, p).mean()


def batch_accuracy(pred, target):
    return ((pred.sigmoid() > 0.5).float() == target).float().mean()


def batches(n, bs, gen, shuffle=True):
    idx = torch.randperm(n, generator=gen) if shuffle else torch.arange(n)
    for i in range(0, n, bs):
        yield idx[i:i + bs]


def validate_binary(model, vx, vy):
    with torch.no_grad():
        return batch_accuracy(model(vx), vy).item()


def w_linear(d):
    tx, ty, vx, vy = d["sample"]
    g = torch.Generator().manual_seed(0)
    w = torch.randn(784, 1, generator=g).requires_grad_()
    b = torch.randn(1, generator=g).requires_grad_()
    model = lambda x: x @ w + b
    for _ in range(20):
        for idx in batches(len(tx), 256, g):
            loss = mnist_loss(model(tx[idx]), ty[idx])
            loss.backward()
            with torch.no_grad():
                w -= w.grad * 1.0
                b -= b.grad * 1.0
            w.grad = None
            b.grad = None
    return validate_binary(model, vx, vy), 20 * len(tx)


def w_simple_net(d):
    tx, ty, vx, vy = d["sample"]
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 30), nn.ReLU(), nn.Linear(30, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    acc = 0
    for _ in range(40):
        for idx in batches(len(tx), 256, g):
            loss = mnist_loss(model(tx[idx]), ty[idx])
            loss.backward()
            opt.step()
            opt.zero_grad()
        acc = validate_binary(model, vx, vy)
    return acc, 40 * len(tx)


def accuracy10(model, vx, vy):
    with torch.no_grad():
        correct = 0
        for i in range(0, len(vx), 1000):
            correct += (model(vx[i:i + 1000]).argmax(1) == vy[i:i + 1000]).sum().item()
        return correct / len(vx)


def w_mlp(d):
    tx, ty, vx, vy = d["full_flat"]
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    acc = 0
    for _ in range(5):
        for idx in batches(len(tx), 256, g):
            loss = F.cross_entropy(model(tx[idx]), ty[idx])
            loss.backward()
            opt.step()
            opt.zero_grad()
        acc = accuracy10(model, vx, vy)
    d["trained_mlp"] = model
    return acc, 5 * len(tx)


def w_cnn(d):
    tx, ty, vx, vy = d["full_img"]
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(1568, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(2):
        for idx in batches(len(tx), 256, g):
            loss = F.cross_entropy(model(tx[idx]), ty[idx])
            loss.backward()
            opt.step()
            opt.zero_grad()
    return accuracy10(model, vx, vy), 2 * len(tx)


def w_inference(d):
    tx, ty, vx, vy = d["full_flat"]
    if "trained_mlp" not in d:  # --only inference: train the MLP first, as bench_workloads does
        w_mlp(d)
    model = d["trained_mlp"]
    with torch.no_grad():
        for i in range(0, len(tx), 1000):
            model(tx[i:i + 1000]).argmax(1)
    return accuracy10(model, vx, vy), len(tx)


WORKLOADS = [("linear", w_linear), ("simple_net", w_simple_net), ("mlp", w_mlp),
             ("cnn", w_cnn), ("inference", w_inference)]


# Below this, PyTorch's matmul is the reference BLAS's (compare.py reads the verdict, slow_blas).
SLOW_BLAS_GFLOPS = 15


def matmul_gflops():
    """GFLOP/s of a 512x512 float matmul on one thread: about 100 here with Debian's OpenBLAS,
    about 3.6 when PyTorch falls back to the reference BLAS (no libopenblas0 installed)."""
    torch.set_num_threads(1)
    a, b = torch.rand(512, 512), torch.rand(512, 512)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t0)
    return 2 * 512 ** 3 / best / 1e9


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", default="")
    ap.add_argument("--threads", default="1,2")
    args = ap.parse_args()
    blas = matmul_gflops()
    if blas < SLOW_BLAS_GFLOPS:
        print(f"pytorch_workloads: PyTorch's matmul runs at {blas:.1f} GFLOP/s, so it uses the reference "
              "BLAS; apt-get install libopenblas0-pthread for a fair comparison", file=sys.stderr)
    tx, ty, vx, vy = load_mnist()
    d = {"sample": (*sample(tx, ty), *sample(vx, vy)),
         "full_flat": (tx.float().div(255).view(-1, 784), ty, vx.float().div(255).view(-1, 784), vy),
         "full_img": (tx.float().div(255).view(-1, 1, 28, 28), ty, vx.float().div(255).view(-1, 1, 28, 28), vy)}
    for name, fn in WORKLOADS:
        if args.only and name not in args.only.split(","):
            continue
        best = None
        for threads in [int(t) for t in args.threads.split(",")]:
            torch.set_num_threads(threads)
            fn(d)  # warm-up
            times, acc, images = [], 0, 0
            for _ in range(args.runs):
                t0 = time.perf_counter()
                acc, images = fn(d)
                times.append(time.perf_counter() - t0)
            med = statistics.median(times)
            if best is None or med < best["seconds"]:
                best = {"workload": name, "engine": "pytorch " + torch.__version__, "threads": threads,
                        "seconds": med, "images_per_s": images / med, "accuracy": acc,
                        "matmul_gflops": blas, "slow_blas": blas < SLOW_BLAS_GFLOPS}
        best["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(best), flush=True)


if __name__ == "__main__":
    main()
