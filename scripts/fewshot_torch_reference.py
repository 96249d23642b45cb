#!/usr/bin/env python3
"""An independent PyTorch reference for the few-shot BP arm (issue 33: the BP arms stay honest).

The network of experiments/bp_<data>.toml (784-1000-10, ReLU, nn.Linear's initialisation), Adam
at lr 1e-3, batch 128, the config's 10 epochs raised until the run makes at least 100 updates
(the few-shot protocol's a-priori rule), a cosine decay of the learning rate per update, trained on
k examples per class drawn with numpy (its own draws, not dalenet's) and evaluated on the full
test set. With --compare FEWSHOT_JSON it prints dalenet's bp (regime A) beside it and fails
(exit 1) when dalenet's mean is more than --tolerance points below the reference at any k.

  /usr/bin/python3 scripts/fewshot_torch_reference.py --dataset mnist --shots 1 10 100 --draws 10 \\
      --compare runs/fewshot_unlabelled_mnist/fewshot.json
"""
import argparse, json, math, os, statistics, sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))
from torch_workloads import idx  # noqa: E402  (the IDX reader of the benchmark's PyTorch side)


def load(data, dataset, split):
    p = "train" if split == "train" else "t10k"
    base = os.path.join(data, dataset)
    def find(stem):
        for name in (stem, stem + ".gz"):
            if os.path.exists(os.path.join(base, name)):
                return os.path.join(base, name)
        sys.exit(f"{base}: no {stem}[.gz] (run `dalenet data fetch {dataset}`)")
    X = idx(find(f"{p}-images-idx3-ubyte")).reshape(-1, 784).astype(np.float32) / 255
    Y = idx(find(f"{p}-labels-idx1-ubyte")).astype(np.int64)
    return torch.tensor(X), torch.tensor(Y)


def run(Xtr, Ytr, Xte, Yte, k, seed, a):
    rng = np.random.default_rng(seed)
    pick = np.concatenate([rng.choice(np.flatnonzero(Ytr.numpy() == c), k, replace=False) for c in range(10)])
    X, Y = Xtr[pick], Ytr[pick]
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(784, a.hidden), torch.nn.ReLU(), torch.nn.Linear(a.hidden, 10))
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    batches = math.ceil(len(X) / a.batch)
    epochs = max(a.epochs, math.ceil(a.min_updates / batches))
    for e in range(epochs):
        order = torch.randperm(len(X))
        for j, i in enumerate(range(0, len(X), a.batch)):
            for g in opt.param_groups:  # cosine decay per update, as dalenet's train.lr_schedule
                g["lr"] = a.lr * 0.5 * (1 + math.cos(math.pi * (e * batches + j) / (epochs * batches)))
            b = order[i:i + a.batch]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(X[b]), Y[b]).backward()
            opt.step()
    with torch.no_grad():
        return (model(Xte).argmax(1) == Yte).float().mean().item()


def mean_ci(v):
    m = statistics.mean(v)
    if len(v) < 2:
        return m, float("nan")
    t = {2: 12.706, 3: 4.303, 4: 3.182, 5: 2.776, 6: 2.571, 7: 2.447, 8: 2.365, 9: 2.306, 10: 2.262}
    return m, t.get(len(v), 1.96) * statistics.stdev(v) / math.sqrt(len(v))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="mnist", choices=["mnist", "fashion"])
    p.add_argument("--data", default=os.environ.get("DALENET_DATA", os.path.expanduser("~/.cache/dalenet")))
    p.add_argument("--shots", type=int, nargs="+", default=[1, 10, 100])
    p.add_argument("--draws", type=int, default=10)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--hidden", type=int, default=1000)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--min-updates", type=int, default=100)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--compare", help="a dalenet fewshot.json: its regime-A bp arm beside the reference")
    p.add_argument("--tolerance", type=float, default=2.5, help="points dalenet's bp may fall below (default 2.5)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    Xtr, Ytr = load(a.data, a.dataset, "train")
    Xte, Yte = load(a.data, a.dataset, "test")
    ours = {}
    if a.compare:
        with open(a.compare) as f:
            doc = json.load(f)
        ours = {r["k"]: r["accuracy"] for r in doc["regime_a"]["summary"] if r["arm"] == "bp"}
    ok = True
    out = []
    for k in a.shots:
        acc = [run(Xtr, Ytr, Xte, Yte, k, a.seed * 1000 + 10 * k + d, a) for d in range(a.draws)]
        m, ci = mean_ci(acc)
        row = {"k": k, "torch_mean": m, "torch_ci95": ci, "draws": a.draws}
        line = f"k={k:<4} PyTorch {100 * m:.2f} ± {100 * ci:.2f}"
        if k in ours:
            d = ours[k]["mean"] - m
            row.update({"dalenet_mean": ours[k]["mean"], "dalenet_ci95": ours[k]["ci95"], "difference": d})
            fine = d >= -a.tolerance / 100
            ok &= fine
            line += f"   dalenet bp {100 * ours[k]['mean']:.2f} ± {100 * (ours[k]['ci95'] or 0):.2f}   " \
                    f"difference {100 * d:+.2f} ({'within' if fine else 'MORE than'} {a.tolerance} points below)"
        print(line, flush=True)
        out.append(row)
    print(json.dumps({"dataset": a.dataset, "rows": out}))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
