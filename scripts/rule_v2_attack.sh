#!/usr/bin/env bash
# Rule version 2's robustness (issue 34): the default attack ladder with the quick preset's
# settings (experiments/paper_quick.toml: 40 steps x 2 restarts, 500 Square queries, 500
# stratified test images) on the models of scripts/rule_v2.sh: bio and windowed k-means seeds
# 1-3, random features and BP seed 1, all on the same images. No transfer attack. Prints the
# mean +- 95 % t-CI over seeds and bio - kmeans paired by seed (docs/RULE.md, "Rule version 2:
# robustness"). About 10 minutes on 2 cores.
# Usage: scripts/rule_v2_attack.sh [BUILD_DIR]     (after scripts/rule_v2.sh)
set -euo pipefail
BUILD=${1:-build}
cd "$(dirname "$0")/.."
for d in mnist fashion; do
  if [ "$d" = mnist ]; then eps=0.05,0.1,0.15; else eps=0.02,0.05,0.1; fi
  models=()
  for a in bio-$d-seed1 bio-$d-seed2 bio-$d-seed3 kmeans-$d-seed1 kmeans-$d-seed2 kmeans-$d-seed3 rf-$d-seed1 \
    bp-$d-seed1; do
    models+=(-m "runs/rule_v2/v2-$a/model.safetensors")
  done
  "$BUILD/dalenet" attack "${models[@]}" -d "$d:test" --n 500 --eps "$eps" --steps 40 --restarts 2 \
    --square-queries 500 --out "runs/v2-attack-$d" > "runs/v2-attack-$d.log" 2>&1
done
python3 - <<'PY'
import json, math, statistics as st
T2 = 4.302652729911275  # Student t, 2 degrees of freedom, 97.5 %
def ci(v):
    return f"{100 * st.mean(v):.1f} ± {100 * T2 * st.stdev(v) / math.sqrt(len(v)):.1f}"
for d, grid in (("mnist", [0.05, 0.1, 0.15]), ("fashion", [0.02, 0.05, 0.1])):
    acc = {}
    for m in json.load(open(f"runs/v2-attack-{d}/robustness.json"))["models"]:
        acc[m["label"]] = {round(e["eps"], 3): e["robust_accuracy"] for e in m["robust"]}
        acc[m["label"]]["clean"] = m["clean_accuracy"]
    for e in ["clean"] + [round(x, 3) for x in grid]:
        bio = [acc[f"v2-bio-{d}-seed{s}"][e] for s in (1, 2, 3)]
        km = [acc[f"v2-kmeans-{d}-seed{s}"][e] for s in (1, 2, 3)]
        print(f"| {d} | {e} | {ci(bio)} | {ci(km)} | {ci([b - k for b, k in zip(bio, km)])} | "
              f"{100 * acc[f'v2-rf-{d}-seed1'][e]:.1f} | {100 * acc[f'v2-bp-{d}-seed1'][e]:.1f} |")
PY
