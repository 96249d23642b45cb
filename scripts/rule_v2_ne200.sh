#!/usr/bin/env bash
# Rule version 2 at N_E = 200 (issue 34's small-width target): experiments/bio_mnist_v2.toml with
# network.hidden = [250] (25 windows x 8 excitatory units + 50 interneurons) and
# bio.eta_output = 0.01 (the readout of the 2000-unit configuration, eta_output 0.1, diverged at
# this width for every arm; 0.01 was the best of 0.01 / 0.005 / 0.0025 on validation, seed 1).
# bio, random features and windowed k-means (as scripts/rule_v2.sh), seeds 1-3, each audited on
# 2000 test images; prints test and validation accuracy and the in-field silent fraction.
# About 5 minutes on 2 cores. Usage: scripts/rule_v2_ne200.sh [BUILD_DIR]
set -euo pipefail
BUILD=${1:-build}
cd "$(dirname "$0")/.."
common=(--config experiments/bio_mnist_v2.toml --set 'network.hidden=[250]' --set bio.eta_output=0.01)
for s in 1 2 3; do
  for arm in bio rf kmeans; do
    extra=()
    [ "$arm" = rf ] && extra=(--set bio.hidden_plasticity=false)
    [ "$arm" = kmeans ] && extra=(--set bio.hidden_update=kmeans --set bio.homeostasis=false --set bio.structural=false)
    out=runs/rule_v2/v2-ne200-$arm-seed$s
    "$BUILD/dalenet" train --quiet "${common[@]}" --set train.seed="$s" "${extra[@]}" --out "$out" --overwrite
    "$BUILD/dalenet" analyze --model "$out/model.safetensors" --data mnist:test --limit 2000 --json \
      --out "$out/analysis.json" > /dev/null
  done
done
python3 - <<'PY'
import json, math, statistics as st
T2 = 4.302652729911275  # Student t, 2 degrees of freedom, 97.5 %
def ci(v):
    return f"{100 * st.mean(v):.2f} ± {100 * T2 * st.stdev(v) / math.sqrt(len(v)):.2f}"
def silent(a):  # functionally silent, of the in-field synapses from active inputs
    return a["projections"][0]["sparsity"].get("silent_fraction_in_fields_active_inputs", float("nan"))
rows = {}
for arm in ("bio", "rf", "kmeans"):
    for s in (1, 2, 3):
        d = f"runs/rule_v2/v2-ne200-{arm}-seed{s}"
        m = json.load(open(f"{d}/results.json"))["metrics"]
        rows.setdefault(arm, []).append((m["test"]["accuracy"], m["validation"]["accuracy"],
                                         silent(json.load(open(f"{d}/analysis.json")))))
for arm, r in rows.items():
    print(f"| {arm} | {ci([x[0] for x in r])} | {ci([x[1] for x in r])} | {ci([x[2] for x in r])} |")
for ctrl in ("rf", "kmeans"):
    diff = [b[0] - c[0] for b, c in zip(rows["bio"], rows[ctrl])]
    print(f"bio - {ctrl}, test accuracy paired by seed: {ci(diff)} pp")
PY
