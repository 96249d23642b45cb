"""Shared helpers of the Python tests: a synthetic IDX task and tiny trained models."""
import os
import struct
import sys
import tempfile

import numpy as np

import dalenet


def write_idx(path, array):
    array = np.asarray(array, dtype=np.uint8)
    with open(path, "wb") as f:
        f.write(bytes([0, 0, 8, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape) + array.tobytes())


def synthetic_dataset(folder, n_train=1500, n_test=300, side=8, seed=3):
    """Ten noisy prototypes of side x side pixels; returns the data.dataset spec and the test arrays."""
    rng = np.random.default_rng(seed)
    protos = rng.random((10, side * side)) < 0.25
    def draw(n):
        y = rng.integers(0, 10, n)
        on = protos[y] ^ (rng.random((n, side * side)) < 0.1)
        x = np.where(on, rng.uniform(150, 255, on.shape), rng.uniform(0, 60, on.shape)).astype(np.uint8)
        return x.reshape(n, side, side), y.astype(np.uint8)
    xtr, ytr = draw(n_train)
    xte, yte = draw(n_test)
    paths = [os.path.join(folder, f) for f in ("tri", "trl", "tei", "tel")]
    for p, a in zip(paths, (xtr, ytr, xte, yte)):
        write_idx(p, a)
    spec = f"idx:{paths[0]},{paths[1]};{paths[2]},{paths[3]}"
    return spec, xte.reshape(n_test, -1).astype(np.float32) / 255, yte.astype(np.int64)


def tiny_model(spec, **settings):
    base = {"data.dataset": spec, "data.validation": 100, "network.hidden": [24], "train.epochs": 10,
            "train.threads": 1}
    base.update(settings)
    model, results = dalenet.train(settings=base)
    return model


def mnist_available():
    cache = os.environ.get("DALENET_DATA", os.path.expanduser("~/.cache/dalenet"))
    return os.path.exists(os.path.join(cache, "mnist", "t10k-images-idx3-ubyte"))


def check(cond, what):
    if not cond:
        print("FAIL:", what)
        sys.exit(1)
    print("ok:", what)


def tempdir():
    return tempfile.TemporaryDirectory()
