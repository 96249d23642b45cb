#!/usr/bin/env bash
# L2 robustness of the quick preset's models (issue 32, "L2 tables"): the default L2 ladder
# (PGD-CE, PGD-margin, APGD-CE, APGD-T, pgd_bpda and pgd_drive where they apply, FGSM, Gaussian;
# no Square: it is L-inf only) with the quick preset's settings (40 steps x 2 restarts) on the
# same 500 stratified test images for the seed-1 models of bio, BP, the BP-through-bio-architecture
# control and the k-means and random-features controls. No transfer attack. Prints a Markdown
# table of robust accuracy (docs/EVALUATION.md, "L2"). About 5 minutes on 2 cores.
# Usage: scripts/robustness_l2.sh [RUN_DIR] [BUILD_DIR]   (RUN_DIR: a finished quick paper run)
set -euo pipefail
RUN=${1:-runs/paper-quick}
BUILD=${2:-build}
cd "$(dirname "$0")/.."
for d in mnist fashion; do
  if [ "$d" = mnist ]; then eps=0.5,1,1.5,2; else eps=0.25,0.5,1; fi
  models=()
  for arm in bio bp bp_arch kmeans rf; do models+=(-m "$RUN/units/train-${arm}_$d-seed1/model.safetensors"); done
  "$BUILD/dalenet" attack "${models[@]}" -d "$d:test" --norm l2 --n 500 --eps "$eps" --steps 40 --restarts 2 \
    --out "runs/l2-$d" > "runs/l2-$d.log" 2>&1
done
python3 - <<'PY'
import json
for d in ("mnist", "fashion"):
    r = json.load(open(f"runs/l2-{d}/robustness.json"))
    grid = [e["eps"] for e in r["models"][0]["robust"] if e["eps"] > 0]
    print(f"| {d} | clean | " + " | ".join(f"L2 ε {e:g}" for e in grid) + " |")
    for m in r["models"]:
        arm = m["label"].split("-")[1].rsplit("_", 1)[0]
        cells = [f"{100 * e['robust_accuracy']:.1f}" for e in m["robust"] if e["eps"] > 0]
        print(f"| {arm} | {100 * m['clean_accuracy']:.1f} | " + " | ".join(cells) + " |")
PY
