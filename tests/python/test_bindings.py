"""The Python module without PyTorch: loading, saving, predicting on numpy arrays, training from
a dict, analyze, attack, errors as exceptions with the CLI's messages, and a pure-numpy reading of
the model file that reproduces the logits."""
import json
import os
import subprocess
import sys

import numpy as np

import dalenet
from common import check, synthetic_dataset, tempdir, tiny_model

cli = sys.argv[1]
with tempdir() as tmp:
    spec, x, y = synthetic_dataset(tmp)
    model = tiny_model(spec)
    check(model.input_size == 64 and model.output_size == 10, "trained from a dict")
    path = os.path.join(tmp, "m.safetensors")
    model.save(path)
    again = dalenet.load_model(path)
    z = dalenet.predict(again, x)
    check(z.shape == (len(x), 10) and z.dtype == np.float32, "predict returns [N, classes] float32")
    check(np.array_equal(z, dalenet.predict(model, x.reshape(-1, 8, 8))), "N x rows x cols input equals N x D")
    acc = float((z.argmax(1) == y).mean())
    check(acc > 0.8, f"the model learned the task ({acc:.3f})")

    # The same numbers as the CLI: `dalenet predict` logits CSV.
    from common import write_idx
    write_idx(os.path.join(tmp, "imgs"), (x * 255).round().reshape(-1, 8, 8))
    csv = subprocess.run([cli, "predict", "--model", path, "--images", os.path.join(tmp, "imgs")],
                         check=True, capture_output=True, text=True).stdout.splitlines()
    cli_logits = np.array([[float(v) for v in row.split(",")[1:-1]] for row in csv[1:]], dtype=np.float32)
    check(np.allclose(cli_logits, z, rtol=1e-6, atol=1e-6), "Python logits equal the CLI's")

    # numpy alone: read the file and run the MLP.
    tensors, meta = dalenet.read_safetensors(path)
    h = np.maximum(x @ tensors["projections.0.weight"].T + tensors["projections.0.bias"], 0)
    zn = h @ tensors["projections.1.weight"].T + tensors["projections.1.bias"]
    check(np.abs(zn - z).max() < 1e-5, f"numpy rebuild within 1e-5 ({np.abs(zn - z).max():.2e})")
    check(meta["info"]["rule"] == "bp" and len(model.projections()) == 2, "metadata and projections")

    g = dalenet.input_gradient(model, x[:5], y[:5])
    check(g.shape == (5, 64) and np.isfinite(g).all(), "input gradient [N, D]")

    rep = dalenet.analyze(model)
    check(rep["format"] == "dalenet-analysis" and len(rep["projections"]) == 2, "analyze returns the audit dict")

    res = dalenet.attack(model, x[:100], y[:100], eps=[0.0, 0.1, 0.3], steps=10, restarts=1, square_queries=50,
                         image_shape=(8, 8), return_adversarial=True)
    robust = [r["robust_accuracy"] for r in res["robust"]]
    check(robust[0] == res["clean_accuracy"] and robust[2] <= robust[1], f"attack: robust accuracy {robust}")
    adv = res["adversarial"][2]
    check(adv.shape == (100, 64) and np.abs(adv - x[:100]).max() <= 0.3 + 1e-6, "adversarial examples in the ball")
    zadv = dalenet.predict(model, adv)
    check(int((zadv.argmax(1) == y[:100]).sum()) == res["robust"][2]["robust_correct"],
          "the returned adversarial examples reproduce the robust accuracy")

    rep = dalenet.represent(model, data="idx:" + spec.split(";")[1],
                            limit=200, png=os.path.join(tmp, "rf.png"))
    check(rep["format"] == "dalenet-representation" and os.path.getsize(os.path.join(tmp, "rf.png")) > 100,
          "represent returns the report and writes the grid")
    cfg = os.path.join(tmp, "fs.toml")
    open(cfg, "w").write(f'[fewshot]\ndataset = "{spec}"\nshots = [2]\ndraws = 2\nnovel = false\n'
                         '[[arm]]\nname = "ncm"\nkind = "ncm"\n')
    fs = dalenet.fewshot(cfg)
    check(fs["format"] == "dalenet-fewshot" and fs["regime_a"]["summary"][0]["accuracy"]["n"] == 2, "fewshot")

    lines = []
    fs = dalenet.fewshot(cfg, progress=lines.append)
    check(any("ncm" in line for line in lines), f"fewshot: progress lines reach the callable ({len(lines)})")

    # The CLI's eval, data info and config show, from Python: the same numbers and text.
    test_spec = "idx:" + spec.split(";")[1]
    ev = dalenet.evaluate(model, data=test_spec)
    cli_ev = json.loads(subprocess.run([cli, "eval", "--model", path, "--data", test_spec, "--json"],
                                       check=True, capture_output=True, text=True).stdout)
    check(ev["accuracy"] == cli_ev["accuracy"] and ev["confusion"] == cli_ev["confusion"],
          f"evaluate equals `dalenet eval --json` ({ev['accuracy']})")
    info = dalenet.data_info(test_spec)
    check(info["images"] == len(x) and sum(info["class_counts"]) == len(x) and len(info["sources"]) == 2,
          f"data_info counts the images ({info['images']}, {info['class_counts']})")
    shown = dalenet.config_show(settings={"train": {"epochs": 3}})
    cli_shown = subprocess.run([cli, "config", "show", "--set", "train.epochs=3"], check=True, capture_output=True,
                               text=True).stdout
    check(shown == cli_shown and "epochs = 3" in shown, "config_show equals `dalenet config show`")
    cli_keys = subprocess.run([cli, "config", "keys"], check=True, capture_output=True, text=True).stdout
    check(len(dalenet.config_keys()) == len(cli_keys.splitlines()), "config_keys lists every key")

    # Every public function documents itself for help().
    public = [n for n in dir(dalenet) if not n.startswith("_") and callable(getattr(dalenet, n))]
    undocumented = [n for n in public if not (getattr(dalenet, n).__doc__ or "").strip()]
    check(not undocumented, f"help() text on every function (missing: {undocumented})")
    check([r["name"] for r in dalenet.rules()][:5] == ["bp", "bp_sign", "eg", "bp_arch", "bio"], "rules() lists the built-in rules")
    # Progress: a tqdm bar on request (Debian's python3-tqdm), one update per epoch.
    import contextlib
    import io
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        dalenet.train(settings={"data.dataset": spec, "data.validation": 100, "network.hidden": [8],
                                "train.epochs": 2, "train.threads": 1}, progress="tqdm")
    check("2/2" in err.getvalue() and "val_accuracy" in err.getvalue(), f"tqdm progress bar: {err.getvalue()!r}")

    # Errors: exceptions carrying the CLI's messages.
    bad = os.path.join(tmp, "bad.safetensors")
    open(bad, "wb").write(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}      ")
    try:
        dalenet.load_model(bad)
        check(False, "corrupt model raises")
    except dalenet.ModelFileError as e:
        msg = str(e)
    cli_msg = subprocess.run([cli, "eval", "--model", bad], capture_output=True, text=True).stderr
    check(msg in cli_msg and "bad.safetensors" in msg, f"ModelFileError with the CLI's message: {msg}")
    try:
        dalenet.train(settings={"train.epochz": 1})
        check(False, "unknown key raises")
    except dalenet.ConfigError as e:
        check("train.epochz" in str(e) and isinstance(e, dalenet.Error), "ConfigError names the key")
    paper_cfg = os.path.join(tmp, "paper.toml")
    open(paper_cfg, "w").write("[paper]\nseedz = [1]\n")
    try:
        dalenet.paper(paper_cfg)
        check(False, "a bad paper config raises")
    except dalenet.ConfigError as e:
        check("paper.seedz" in str(e) and "paper.toml" in str(e), "paper: ConfigError names the file and key")
    try:
        dalenet.paper(paper_cfg, estimate="maybe")
        check(False, "an unknown estimate mode raises")
    except dalenet.ConfigError as e:
        check("estimate='maybe'" in str(e) and "only" in str(e), "paper: ConfigError names the estimate modes")
    try:
        dalenet.predict(model, np.zeros((3, 63), np.float32))
        check(False, "wrong shape raises")
    except dalenet.InputError as e:
        check("64" in str(e), "InputError for a wrong shape")
    try:
        dalenet.predict(model, np.full((2, 64), np.nan, np.float32))
        check(False, "NaN raises")
    except dalenet.InputError as e:
        check("non-finite" in str(e), "InputError for NaN input")

print("all Python binding checks passed")
