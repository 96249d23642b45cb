"""dalenet: biologically guided learning for sparse networks, from Python.

The functions come from the C++ core (dalenet._core, the same library the `dalenet` command
uses); this file adds only conversions that need Python: dict configs, a numpy reader of model
files, and a PyTorch rebuild of a model's inference function (docs/PYTHON.md).
"""
import json
import struct
import sys

from ._core import (  # noqa: F401  (re-exported API)
    ConfigError, DataError, DivergenceError, Error, InputError, IoError, Model, ModelFileError,
    __version__, analyze, attack, attack_job, bio_targets, config_keys, data_info, default_eps_grid, evaluate,
    fetch_data, fewshot, input_gradient, load_dataset, load_model, load_plugin, mean_ci95, pgd, predict, represent,
    rules, set_threads, verify_data)
from . import _core


def _toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)  # a TOML basic string
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot express {v!r} in a dalenet config")


def overrides_from_dict(settings):
    """{"train": {"epochs": 2}, "network.hidden": [100]} -> ["train.epochs=2", "network.hidden=[100]"]."""
    out = []
    for key, value in (settings or {}).items():
        if isinstance(value, dict):
            out += [f"{key}.{k}={_toml_value(v)}" for k, v in value.items()]
        else:
            out.append(f"{key}={_toml_value(value)}")
    return out


def _epoch_bar(kind):
    """An epoch callback drawing a tqdm bar (Debian's python3-tqdm), or None. kind "tqdm": always
    (ImportError without tqdm); "auto": when tqdm is installed and stderr is a terminal."""
    try:
        from tqdm.auto import tqdm
    except ImportError:
        if kind == "tqdm":
            raise
        return None
    if kind == "auto" and not sys.stderr.isatty():
        return None
    bar = None

    def update(e):
        nonlocal bar
        if bar is None:
            bar = tqdm(total=e["epochs"], unit="epoch", desc="dalenet train")
        bar.update(1)
        bar.set_postfix(loss=f"{e['train_loss']:.4f}", val_accuracy=f"{e['val_accuracy']:.4f}")
        if e["epoch"] == e["epochs"]:
            bar.close()
    return update


def train(config="", settings=None, out="", data_dir="", overwrite=False, progress="auto"):
    """Trains like `dalenet train`: `config` is a TOML file (or "" for defaults), `settings` a
    dict of overrides ({"train": {"epochs": 2}} or {"train.epochs": 2}); returns (Model, results
    dict). Unknown keys raise dalenet.ConfigError with the CLI's message.

    progress: a callable, given a dict per epoch (epoch, epochs, train_loss, train_accuracy,
    val_loss, val_accuracy, elapsed_s); "tqdm" for a tqdm bar; "auto" (default) for a tqdm bar
    when tqdm is installed and stderr is a terminal; None for nothing."""
    if isinstance(progress, str):
        if progress not in ("auto", "tqdm"):
            raise ValueError(f"progress: expected a callable, 'auto', 'tqdm' or None, got {progress!r}")
        progress = _epoch_bar(progress)
    return _core.train(config, overrides_from_dict(settings), out, data_dir, overwrite, progress)


def config_show(config="", settings=None):
    """The resolved TOML of a config file plus overrides, as `dalenet config show`; settings as
    for train() ({"train": {"epochs": 2}} or {"train.epochs": 2})."""
    return _core.config_show(config, overrides_from_dict(settings))


def _launch_paper_workers(tasks):
    """paper(workers=N)'s local workers: one `python3 -m dalenet._worker` process per task,
    importing this same package; returns how many failed."""
    import os
    import subprocess
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    procs = [subprocess.Popen([sys.executable, "-m", "dalenet._worker", json.dumps(t)], env=env) for t in tasks]
    return sum(1 for p in procs if p.wait() != 0)


def paper(config="", preset="", out="", workers=1, threads=-1, report_only=False, data_dir="", progress=None,
          estimate="yes", calibrate_from=""):
    """Runs `dalenet paper`: every unit (resumable), then the report; returns results.json as a dict.

    config: a paper config file, or preset: "quick" | "full" (experiments/paper_<preset>.toml).
    out: the output folder (default runs/paper-<preset>). workers: local worker processes per
    stage (each a `python3 -m dalenet._worker`, as the CLI's --workers). threads: per unit (-1:
    the config's paper.threads; 0: all cores). report_only: rebuild the report from the finished
    units. progress: a callable given each progress line. estimate: "yes" (print the projected
    time first, as the CLI), "no" (--no-estimate), "only" (--estimate: returns {"estimate": ...}
    and runs nothing). calibrate_from: a finished run's folder to time attacks and audits on."""
    return _core.paper(config, preset, out, workers, threads, report_only, data_dir, progress, estimate,
                       calibrate_from, _launch_paper_workers)


def read_safetensors(path):
    """Reads a model file with numpy only: (tensors dict name -> array, dalenet metadata dict)."""
    import numpy as np
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    tensors = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        tensors[name] = np.frombuffer(data[b:end], {"F32": "<f4", "U8": "u1"}[e["dtype"]]).reshape(e["shape"]).copy()
    return tensors, json.loads(header["__metadata__"]["dalenet"])


def to_torch(model_or_path):
    """A torch.nn.Module computing the same logits as the model file (docs/FORMATS.md), built
    from the safetensors tensors and the architecture alone: linear and log-normalised
    efficacies, feedback inhibition, k-WTA and divisive normalisation included. Input [N, 784]
    in [0, 1], output logits [N, classes]; differentiable with autograd."""
    import tempfile
    import os
    if isinstance(model_or_path, str):
        tensors, meta = read_safetensors(model_or_path)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "model.safetensors")
            model_or_path.save(path)
            tensors, meta = read_safetensors(path)
    from ._torch import DalenetModule
    return DalenetModule(tensors, meta["architecture"])
