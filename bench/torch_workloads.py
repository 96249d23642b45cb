#!/usr/bin/python3
"""PyTorch's side of `make bench`: the same four workloads as bench/workloads.cpp, on the same
data (the IDX files of the dalenet data cache), the same model files (rebuilt by dalenet.to_torch,
whose logits and gradients the Python tests check against the C++ core), the same batch sizes and
thread count. Prints one JSON line like dalenet_workloads.

  bp_epoch    784-1000-10 ReLU MLP (nn.Linear init), Adam lr 1e-3, batch 128, 55 000 images
  bio_epoch   the bio rule (docs/RULE.md H1-H5, O1) written in torch: N_E = 1000, N_I = 250,
              batch 100, the hyperparameters of experiments/bio_mnist.toml, cosine schedule
  pgd         PGD-CE, 100 steps, eps 0.1, step 2.5 eps / 100, one random start, no early stop,
              first 1000 test images, one batch
  inference   logits of the 10 000 test images in batches of 1000, no autograd

Usage: torch_workloads.py WORKLOAD --data DIR [--model FILE] [--epochs N] [--repeats N] [--threads N]
"""
import argparse, gzip, json, math, os, statistics, sys, time

import numpy as np
import torch


def idx(path):
    """An IDX file (gzipped if the name ends in .gz) as a numpy uint8 array."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        d = f.read()
    dims = [int.from_bytes(d[4 + 4 * i:8 + 4 * i], "big") for i in range(d[3])]
    return np.frombuffer(d, np.uint8, offset=4 + 4 * d[3]).reshape(dims)


def mnist(data, split):
    p = "train" if split == "train" else "t10k"
    X = torch.tensor(idx(f"{data}/mnist/{p}-images-idx3-ubyte").reshape(-1, 784).copy())
    Y = torch.tensor(idx(f"{data}/mnist/{p}-labels-idx1-ubyte").astype(np.int64))
    return X, Y


def bp_epoch(a, X, Y):
    model = torch.nn.Sequential(torch.nn.Linear(784, 1000), torch.nn.ReLU(), torch.nn.Linear(1000, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    lossf = torch.nn.CrossEntropyLoss()
    secs = []
    for _ in range(a.epochs):
        t0 = time.perf_counter()
        order = torch.randperm(len(X))
        for i in range(0, len(X), 128):
            b = order[i:i + 128]
            opt.zero_grad(set_to_none=True)
            lossf(model(X[b].float() / 255), Y[b]).backward()
            opt.step()
        secs.append(time.perf_counter() - t0)
    return secs, model


def feedback_level(z, gain):
    """I = g * sum_j max(0, z_j - I) per row (docs/RULE.md H2), from the sorted drives."""
    s, _ = torch.sort(z, dim=1, descending=True)
    m = torch.arange(1, s.shape[1] + 1, dtype=s.dtype)
    levels = gain * torch.cumsum(s, 1) / (1 + gain * m)
    nxt = torch.cat([s[:, 1:], torch.full((s.shape[0], 1), -math.inf)], 1)
    first = torch.argmax(((s > levels) & (nxt <= levels)).to(torch.int8), dim=1, keepdim=True)
    level = levels.gather(1, first).squeeze(1)
    return torch.where(s[:, 0] > 0, level, torch.zeros_like(level))


@torch.no_grad()
def bio_epoch(a, X, Y):
    """One epoch of the bio rule, the same operations as src/rules/bio_rule.cpp (N_E = 1000)."""
    nE, nI, B = 1000, 250, 100
    eta_h, eta_o, gain, beta, alpha = 0.01, 0.1, 0.3, 0.01, 0.01
    floor = 1e-3 / 784
    W = torch.empty(nE + nI, 784).uniform_(0.01, 0.1)
    W[nE:] = 0  # interneurons receive no feed-forward input
    mask = torch.ones_like(W, dtype=torch.bool)
    b = torch.zeros(nE + nI)
    V = torch.empty(10, nE + nI).uniform_(0.01, 0.1)
    V[:, nE:] = 0  # and do not project to the output
    c = torch.zeros(10)
    rate = torch.full((nE,), 1.0 / nE)
    batches_per_epoch = math.ceil(len(X) / B)
    total = a.epochs * batches_per_epoch
    step, secs, flips = 0, [], 0
    for _ in range(a.epochs):
        t0 = time.perf_counter()
        order = torch.randperm(len(X))
        for i in range(0, len(X), B):
            idx_b = order[i:i + B]
            x = X[idx_b].float() / 255                                  # [B x 784]
            scale = 0.5 * (1 + math.cos(math.pi * step / total))        # cosine schedule
            step += 1
            sums = W.sum(1, keepdim=True)
            inv = torch.where(sums > 0, 1 / sums, torch.zeros_like(sums))
            eff = torch.log(torch.clamp(W * inv, min=floor)) - math.log(floor)
            z = x @ eff.T + b                                           # H1
            level = feedback_level(z[:, :nE], gain)                     # H2
            h = torch.relu(z[:, :nE] - level[:, None])
            act = torch.cat([h, level[:, None].expand(-1, nI)], 1)
            logits = act @ V.T + c
            r = h / torch.where(h.sum(1, keepdim=True) > 0, h.sum(1, keepdim=True), torch.ones(1))
            # H3 on the E rows (EM form, multiplicative)
            before = W[:nE].clone()
            sE = W[:nE].sum(1, keepdim=True)
            what = torch.where(sE > 0, W[:nE] / sE, W[:nE])
            d = what @ x.T                                              # [nE x B]
            g = (r.T / (d + 1e-12)) @ x                                 # [nE x 784]
            rsum = r.sum(0)
            cj = torch.clamp(nE * rsum / B, max=5.0)
            fired = rsum > 0
            upd = what * torch.exp(eta_h * scale * cj[:, None] * (g / torch.where(fired, rsum, torch.ones(1))[:, None] - 1))
            W[:nE] = torch.where(fired[:, None], upd, what)
            flips += int(((before > 0) & (W[:nE] < 0)).sum())
            # O1 on the E columns of the output projection
            y = torch.softmax(logits, 1)
            teach = -y
            teach[torch.arange(len(idx_b)), Y[idx_b]] += 1
            V[:, :nE] *= torch.exp(eta_o * scale / B * (teach.T @ h))
            c += eta_o * scale / B * teach.sum(0)
            # H4 homeostasis
            rate = (1 - alpha) * rate + alpha * r.mean(0)
            b[:nE] -= beta * nE * (rate - 1.0 / nE)
            # H5 structural plasticity every 100 batches
            if step % 100 == 0:
                rs = W[:nE].sum(1, keepdim=True)
                dead = mask[:nE] & (W[:nE] / torch.where(rs > 0, rs, torch.ones(1)) <= floor) & (rs > 0)
                mask[:nE] &= ~dead
                W[:nE][dead] = 0
        secs.append(time.perf_counter() - t0)
    # Test accuracy of the learned circuit (a check that the peer learns like dalenet's rule).
    Xt, Yt = mnist(a.data, "test")
    xt = Xt.float() / 255
    sums = W.sum(1, keepdim=True)
    eff = torch.log(torch.clamp(W * torch.where(sums > 0, 1 / sums, torch.zeros_like(sums)), min=floor)) - math.log(floor)
    z = xt @ eff.T + b
    level = feedback_level(z[:, :nE], gain)
    logits = torch.relu(z[:, :nE] - level[:, None]) @ V[:, :nE].T + c
    return secs, (logits.argmax(1) == Yt).float().mean().item()


def load(path):
    # The Python module (its to_torch rebuilds the model file): from PYTHONPATH (bench/table.py
    # sets it to the build's python folder), else the default build folder.
    sys.path.append(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build", "python"))
    import dalenet  # noqa: E402
    return dalenet.to_torch(path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("workload", choices=["bp_epoch", "bio_epoch", "pgd", "inference", "gemm"])
    ap.add_argument("--data", required=True)
    ap.add_argument("--model")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    out = {"workload": a.workload, "threads": a.threads, "peer": "pytorch", "torch": torch.__version__}
    if a.workload == "gemm":  # the peer's GEMM rate (median of 5 x 20 products), as dalenet_bench's BM_Gemm
        out["gflops"] = {}
        for m, k, n in [(1000, 784, 128), (1000, 1000, 1000)]:
            x, y = torch.randn(m, k), torch.randn(k, n)
            for _ in range(3):
                x @ y
            rates = []
            for _ in range(5):
                t0 = time.perf_counter()
                for _ in range(20):
                    x @ y
                rates.append(2 * m * k * n * 20 / (time.perf_counter() - t0) / 1e9)
            out["gflops"][f"{m}/{k}/{n}"] = statistics.median(rates)
        print(json.dumps(out))
        return
    if a.workload in ("bp_epoch", "bio_epoch"):
        X, Y = mnist(a.data, "train")
        keep = torch.randperm(len(X))[5000:]  # the same 55 000-image training split size
        X, Y = X[keep], Y[keep]
        if a.workload == "bp_epoch":
            out["seconds"], model = bp_epoch(a, X, Y)
            Xt, Yt = mnist(a.data, "test")
            with torch.no_grad():
                out["test_accuracy"] = (model(Xt.float() / 255).argmax(1) == Yt).float().mean().item()
        else:
            out["seconds"], out["test_accuracy"] = bio_epoch(a, X, Y)
    else:
        model = load(a.model)
        model.eval()
        for p in model.parameters():
            p.requires_grad_(False)
        Xt, Yt = mnist(a.data, "test")
        Xt = Xt.float() / 255
        secs = []
        if a.workload == "inference":
            for _ in range(a.repeats):
                t0 = time.perf_counter()
                with torch.no_grad():
                    correct = sum(int((model(Xt[i:i + 1000]).argmax(1) == Yt[i:i + 1000]).sum())
                                  for i in range(0, len(Xt), 1000))
                secs.append(time.perf_counter() - t0)
            out["test_accuracy"] = correct / len(Xt)
        else:
            x0, y = Xt[:1000], Yt[:1000]
            eps, steps = 0.1, 100
            alpha = 2.5 * eps / steps
            lossf = torch.nn.CrossEntropyLoss(reduction="sum")
            for _ in range(a.repeats):
                t0 = time.perf_counter()
                x = torch.clamp(x0 + torch.empty_like(x0).uniform_(-eps, eps), 0, 1)
                for _ in range(steps):
                    x.requires_grad_(True)
                    (grad,) = torch.autograd.grad(lossf(model(x), y), x)
                    with torch.no_grad():
                        x = torch.min(torch.max(x + alpha * grad.sign(), x0 - eps), x0 + eps).clamp(0, 1)
                secs.append(time.perf_counter() - t0)
            with torch.no_grad():
                out["robust_accuracy"] = (model(x).argmax(1) == y).float().mean().item()
        out["seconds"] = secs
    print(json.dumps(out))


if __name__ == "__main__":
    main()
