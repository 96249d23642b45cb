#!/usr/bin/python3
"""Independent recomputation of `dalenet analyze --json` from the model file, with numpy only.

    check_audit.py MODEL.safetensors ANALYSIS.json [--train-images IDX]

Reads the model as docs/FORMATS.md describes (no dalenet code), computes every projection's
strength as the forward pass uses it, and checks the audit's functional numbers against it: silent
fractions (all synapses, and synapses from active inputs when the training images are given),
non-silent counts, Dale compliance per projection, the lognormal fit (mean, SD and skewness of
ln strength) and, where no subsampling happened, the Anderson-Darling statistic. Prints one line
per check; exit 0 when all agree, 1 otherwise. Used by ctest (Scripts.CheckAuditRecomputes) on a
small trained model, and by hand on the models of `make demo` (docs/RESULTS.md).
"""
import argparse
import gzip
import json
import math
import struct
import sys

import numpy as np


def load_model(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]

    def tensor(name):
        if name not in header:
            return None
        e = header[name]
        b, end = e["data_offsets"]
        return np.frombuffer(data[b:end], {"F32": "<f4", "U8": "u1"}[e["dtype"]]).reshape(e["shape"])

    meta = json.loads(header["__metadata__"]["dalenet"])
    return meta, tensor


def strength(W, spec):
    """The matrix the forward pass multiplies the presynaptic rates with (float64)."""
    W = W.astype(np.float64)
    if spec.get("efficacy", "linear") == "linear":
        return W
    eps = float(np.float32(spec["floor"]))
    a = np.abs(W)
    s = a.sum(axis=1, keepdims=True)
    share = np.divide(a, s, out=np.zeros_like(a), where=s > 0)
    return np.sign(W) * np.log(np.maximum(share, eps) / eps)


def in_projection(layer):
    """1 for neurons that take part in feedforward projections (interneurons of a competition
    layer do not), as the audit counts them."""
    competition = layer.get("competition", "none") != "none"
    flags = []
    for pop in layer["populations"]:
        flags += [0 if competition and pop["type"] == "I" else 1] * pop["size"]
    return np.array(flags, dtype=bool)


def read_idx_images(path):
    raw = open(path, "rb").read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    count, rows, cols = struct.unpack(">III", raw[4:16])
    return np.frombuffer(raw[16:], np.uint8).reshape(count, rows * cols)


def anderson_darling(y):
    y = np.sort(y)
    n = len(y)
    m, sd = y.mean(), y.std(ddof=1)
    z = (y - m) / sd
    log_cdf = np.log(np.maximum(0.5 * np.array([math.erfc(-v / math.sqrt(2)) for v in z]), 1e-300))
    log_sf = np.log(np.maximum(0.5 * np.array([math.erfc(v / math.sqrt(2)) for v in z]), 1e-300))
    i = np.arange(1, n + 1)
    return -n - np.sum((2 * i - 1) * (log_cdf + log_sf[::-1])) / n


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("analysis")
    ap.add_argument("--train-images", help="IDX images (raw or .gz) that define the active inputs")
    args = ap.parse_args()
    meta, tensor = load_model(args.model)
    doc = json.load(open(args.analysis))
    layers = meta["architecture"]["layers"]
    specs = meta["architecture"].get("projections", [{} for _ in range(len(layers) - 1)])
    failures = []

    def check(what, ours, theirs, tol):
        ok = abs(ours - theirs) <= tol * max(1.0, abs(ours))
        print(f"{'ok  ' if ok else 'FAIL'} {what}: recomputed {ours:.6g}, dalenet {theirs:.6g}")
        if not ok:
            failures.append(what)

    if doc.get("quantity") != "strength":
        print(f"FAIL the analysis document measures {doc.get('quantity')!r}, not the strength")
        return 1
    active = None
    if args.train_images:
        X = read_idx_images(args.train_images)
        on = (X >= math.ceil(255 * doc["active_inputs"]["on_level"] - 1e-9)).mean(axis=0)
        active = on >= doc["active_inputs"]["min_fraction"]
        check("active inputs", active.sum(), doc["active_inputs"]["active"], 0)
    for l, p in enumerate(doc["projections"]):
        S = strength(tensor(f"projections.{l}.weight"), specs[l] if l < len(specs) else {})
        mask = tensor(f"projections.{l}.mask")
        rows, cols = in_projection(layers[l + 1]), in_projection(layers[l])
        counted = np.outer(rows, cols)
        silent = (S == 0) | ((mask == 0) if mask is not None else False)
        name = f"projection {l}"
        check(f"{name} silent fraction", silent[counted].mean(), p["sparsity"]["silent_fraction"], 1e-9)
        check(f"{name} non-silent", (~silent & counted).sum(), p["sparsity"]["non_silent"], 0)
        if l == 0 and active is not None:
            sel = counted & active[None, :]
            check(f"{name} silent fraction over active inputs", silent[sel].mean(),
                  p["sparsity"]["silent_fraction_active_inputs"], 1e-9)
        live = ~silent & counted
        pos_any = ((S > 0) & live).any(axis=0)[cols]
        neg_any = ((S < 0) & live).any(axis=0)[cols]
        check(f"{name} Dale compliance", (~(pos_any & neg_any)).mean(), p["dale"]["compliance"], 1e-9)
        values = S[live & (S > 0)]
        d = p["distribution"]["positive"]
        check(f"{name} positive n", len(values), d["n"], 0)
        if len(values) >= 10 and "log_mean" in d:
            logs = np.log(values)
            check(f"{name} ln strength mean", logs.mean(), d["log_mean"], 1e-5)
            check(f"{name} ln strength sd", logs.std(), d["log_sd"], 1e-4)
            g1 = np.mean((logs - logs.mean()) ** 3) / logs.std() ** 3
            check(f"{name} ln strength skewness", g1, d["log_skewness"], 1e-3)
            a = d["absolute_fit"]
            if a["n"] == len(values):  # no subsample: the statistic is order-free, so it must agree
                check(f"{name} Anderson-Darling A^2", anderson_darling(logs), a["statistic"], 1e-4)
    print(f"{len(failures)} failed" if failures else "all checks agree")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
