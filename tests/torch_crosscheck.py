#!/usr/bin/python3
"""Independent cross-check of dalenet's whole training path against PyTorch: one SGD step of a
784-1000-10 ReLU MLP from dalenet's own initial weights, on the first 128 MNIST training
images, must land on the same weights (to float rounding) in dalenet and in torch.autograd.
Exit 77 (ctest: skipped) when python3-torch or MNIST is missing.
Usage: torch_crosscheck.py DALENET_BINARY
"""
import json, os, struct, subprocess, sys, tempfile

try:
    import numpy as np
    import torch
except ImportError:
    print("SKIP: python3-torch not installed (scripts/install-deps.sh --with-torch)")
    sys.exit(77)

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "bench"))
from torch_workloads import idx  # noqa: E402

dalenet = sys.argv[1]
data = os.environ.get("DALENET_DATA", os.path.expanduser("~/.cache/dalenet"))
if not os.path.exists(f"{data}/mnist/train-images-idx3-ubyte"):
    print("SKIP: MNIST not fetched (dalenet data fetch)")
    sys.exit(77)


def load(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    h = json.loads(raw[8:8 + n])
    d = raw[8 + n:]

    def t(k):
        b, e = h[k]["data_offsets"]
        return torch.tensor(np.frombuffer(d[b:e], "<f4").reshape(h[k]["shape"]).copy())

    return [t(f"projections.{l}.{w}") for l in (0, 1) for w in ("weight", "bias")]


with tempfile.TemporaryDirectory() as tmp:
    common = ["train", "--quiet", "--set", "data.train_limit=128", "--set", "data.validation=0",
              "--set", "data.test_limit=10", "--set", "train.epochs=1", "--set", "train.optimizer=sgd",
              "--set", "train.momentum=0", "--set", "train.threads=1"]
    # lr = 1e-30 leaves the initial weights (to float precision); the same seed gives the same init.
    subprocess.run([dalenet, *common, "--set", "train.lr=1e-30", "--out", f"{tmp}/init"], check=True)
    subprocess.run([dalenet, *common, "--set", "train.lr=0.1", "--out", f"{tmp}/step"], check=True)
    init, step = load(f"{tmp}/init/model.safetensors"), load(f"{tmp}/step/model.safetensors")

X = torch.tensor(idx(f"{data}/mnist/train-images-idx3-ubyte").reshape(-1, 784)[:128]).float() / 255
Y = torch.tensor(idx(f"{data}/mnist/train-labels-idx1-ubyte")[:128].astype(np.int64))
P = [p.clone().requires_grad_() for p in init]
logits = torch.relu(X @ P[0].T + P[1]) @ P[2].T + P[3]
torch.nn.functional.cross_entropy(logits, Y).backward()
worst = 0.0
for name, p0, p1, p in zip(["W0", "b0", "W1", "b1"], init, step, P):
    diff = (p0 - 0.1 * p.grad - p1).abs().max().item()
    size = (0.1 * p.grad).abs().max().item()
    print(f"{name}: max |dalenet - torch| = {diff:.3g} (largest step {size:.3g})")
    worst = max(worst, diff / size)
if worst > 1e-4:
    print(f"FAIL: relative disagreement {worst:.3g}")
    sys.exit(1)
print("OK: dalenet and torch.autograd agree")
