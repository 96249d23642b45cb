#!/usr/bin/python3
"""PyTorch peer of dalenet's BP baseline: the same 784-H-10 ReLU MLP (nn.Linear's default
init, which dalenet's init = "uniform_fan_in" reproduces), Adam, the same batch size, thread
count and data (the IDX files of the dalenet data cache, inputs scaled to [0, 1], the same
validation split size). Prints one JSON line: epoch times, test accuracy, matmul GFLOP/s.

Usage: torch_peer.py --data DIR [--dataset mnist|fashion] [--hidden 1000] [--epochs 1]
                     [--batch 128] [--lr 1e-3] [--threads 2] [--validation 5000] [--seed 1]
"""
import argparse, gzip, json, os, time

import numpy as np
import torch


def idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        d = f.read()
    ndim = d[3]
    dims = [int.from_bytes(d[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(d, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--dataset", default="mnist")
    ap.add_argument("--hidden", type=int, default=1000)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--validation", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    gz = ".gz" if a.dataset == "fashion" else ""
    base = os.path.join(a.data, a.dataset)
    X = torch.tensor(idx(f"{base}/train-images-idx3-ubyte{gz}").reshape(-1, 784))
    Y = torch.tensor(idx(f"{base}/train-labels-idx1-ubyte{gz}").astype(np.int64))
    Xt = torch.tensor(idx(f"{base}/t10k-images-idx3-ubyte{gz}").reshape(-1, 784)).float() / 255
    Yt = torch.tensor(idx(f"{base}/t10k-labels-idx1-ubyte{gz}").astype(np.int64))
    perm = torch.randperm(len(X))
    tr = perm[a.validation:]
    X, Y = X[tr], Y[tr]  # kept as uint8; converted per batch, as dalenet does

    # Matmul throughput of this torch build (proof that it runs on OpenBLAS, not reference BLAS).
    A, B = torch.randn(1000, 1000), torch.randn(1000, 1000)
    torch.mm(A, B)
    t = time.perf_counter(); reps = 10
    for _ in range(reps):
        torch.mm(A, B)
    gflops = 2e9 * reps / (time.perf_counter() - t) / 1e9

    model = torch.nn.Sequential(torch.nn.Linear(784, a.hidden), torch.nn.ReLU(), torch.nn.Linear(a.hidden, 10))
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    lossf = torch.nn.CrossEntropyLoss()
    epoch_s = []
    for _ in range(a.epochs):
        t0 = time.perf_counter()
        order = torch.randperm(len(X))
        for i in range(0, len(X), a.batch):
            b = order[i:i + a.batch]
            xb = X[b].float() / 255
            opt.zero_grad(set_to_none=True)
            loss = lossf(model(xb), Y[b])
            loss.backward()
            opt.step()
        epoch_s.append(time.perf_counter() - t0)
    with torch.no_grad():
        acc = (model(Xt).argmax(1) == Yt).float().mean().item()
    print(json.dumps({"peer": "pytorch", "torch": torch.__version__, "threads": a.threads,
                      "blas": torch.__config__.show().count("BLAS_INFO") and "see torch.__config__", 
                      "epoch_s": epoch_s, "test_accuracy": acc, "matmul_gflops_1000": gflops}))


if __name__ == "__main__":
    main()
