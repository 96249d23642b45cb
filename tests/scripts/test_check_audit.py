#!/usr/bin/python3
"""The functional audit against an independent recomputation (scripts/check_audit.py, numpy only):
a small bio model and a small BP model trained by the CLI on synthetic 10x10 images whose border
is never on, audited by `dalenet analyze --json`, then recomputed from the model files. Also
checks that the checker itself fails on a doctored analysis. Run by ctest
(Scripts.CheckAuditRecomputes): check_audit.py's argument is the dalenet CLI."""
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
CHECK = os.path.join(HERE, "..", "..", "scripts", "check_audit.py")
CLI = sys.argv[1]
KEEP = os.environ.get("CHECK_AUDIT_KEEP")


def write_idx(folder, name, n, rng):
    labels = rng.integers(0, 4, n).astype(np.uint8)
    images = np.zeros((n, 10, 10), np.uint8)
    for k in range(n):  # a class-dependent bar in the inner 8x8, noise elsewhere inside; border off
        c = labels[k]
        images[k, 1:9, 1:9] = rng.integers(0, 90, (8, 8))
        images[k, 2 + 2 * c:4 + 2 * c, 1:9] = 200 + rng.integers(0, 55, (2, 8))
    with open(os.path.join(folder, name + "-images"), "wb") as f:
        f.write(struct.pack(">IIII", 0x803, n, 10, 10) + images.tobytes())
    with open(os.path.join(folder, name + "-labels"), "wb") as f:
        f.write(struct.pack(">II", 0x801, n) + labels.tobytes())


def run(*args):
    r = subprocess.run(list(args), capture_output=True, text=True)
    if r.returncode != 0:
        print(r.stdout, r.stderr)
        raise SystemExit(f"failed: {' '.join(args)}")
    return r.stdout


with tempfile.TemporaryDirectory() as tmp:
    tmp = KEEP or tmp
    rng = np.random.default_rng(3)
    write_idx(tmp, "train", 400, rng)
    write_idx(tmp, "test", 100, rng)
    t = lambda n: os.path.join(tmp, n)
    spec = f"idx:{t('train-images')},{t('train-labels')};{t('test-images')},{t('test-labels')}"
    common = [f"--set=data.dataset={json.dumps(spec)}", "--set=data.validation=50", "--set=train.batch=50",
              "--set=train.threads=1"]
    for rule, extra in (("bio", ["--set=network.hidden=[40]", "--set=network.init=\"uniform\"", "--set=train.epochs=3",
                                 "--set=bio.silence_factor=0.6", "--set=bio.eta_hidden=0.1"]),
                        ("bp", ["--set=network.hidden=[30]", "--set=train.epochs=2"])):
        out = t(rule)
        run(CLI, "train", "--out", out, f"--set=train.rule=\"{rule}\"", *common, *extra, "--quiet")
        analysis = t(rule + ".json")
        run(CLI, "analyze", "--model", os.path.join(out, "model.safetensors"),
            "--data", f"idx:{t('test-images')},{t('test-labels')}",
            "--inputs", f"idx:{t('train-images')},{t('train-labels')}", "--out", analysis)
        doc = json.load(open(analysis))
        assert doc["active_inputs"]["active"] < 100, doc["active_inputs"]  # the border is never on
        print(run(sys.executable, CHECK, os.path.join(out, "model.safetensors"), analysis,
                  "--train-images", t("train-images")))
        # The checker is not a rubber stamp: a doctored silent fraction fails it.
        doc["projections"][0]["sparsity"]["silent_fraction"] += 0.01
        bad = t(rule + "-bad.json")
        json.dump(doc, open(bad, "w"))
        r = subprocess.run([sys.executable, CHECK, os.path.join(out, "model.safetensors"), bad],
                           capture_output=True, text=True)
        assert r.returncode == 1 and "FAIL projection 0 silent fraction" in r.stdout, r.stdout
print("1 passed, 0 failed")
