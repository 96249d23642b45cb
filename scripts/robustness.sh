#!/usr/bin/env bash
# Robustness of every rule (issue 4): trains bio, bp, bp_sign and eg on MNIST and Fashion-MNIST
# for 3 seeds each, attacks every model with the full ladder on a stratified test subset, and
# regenerates docs/RESULTS.md (its robustness section reads runs/robust/attack/*/robustness.json).
# Resumable: finished trainings and attack results are kept and skipped.
# Usage: scripts/robustness.sh [BUILD_DIR]   (after `make data`)
#   env N_MNIST (examples, default 500), N_FASHION (200), SEEDS ("1 2 3"), STEPS (100), RESTARTS (5),
#   SQUARE (1000; the command's own default is 5000 — reduced here to fit a 2-core machine)
set -euo pipefail
BUILD=${1:-build}
cd "$(dirname "$0")/.."
N_MNIST=${N_MNIST:-500}
N_FASHION=${N_FASHION:-200}
SEEDS=${SEEDS:-"1 2 3"}
STEPS=${STEPS:-100}
RESTARTS=${RESTARTS:-5}
SQUARE=${SQUARE:-1000}
root=runs/robust
mkdir -p "$root/attack"
for data in mnist fashion; do
  for arm in bp bp_sign eg bio; do
    for s in $SEEDS; do
      run="$root/${arm}_${data}-seed$s"
      [[ -f "$run/model.safetensors" ]] && continue
      echo "== train $run" >&2
      "$BUILD/dalenet" train --quiet --config "experiments/${arm}_${data}.toml" --set train.seed="$s" --out "$run" --overwrite
    done
  done
done
for data in mnist fashion; do
  set -- $SEEDS
  first=$1
  for arm in bp bp_sign eg bio; do
    for s in $SEEDS; do
      out="$root/attack/${arm}_${data}-seed$s"
      [[ -f "$out/robustness.json" ]] && continue
      # Transfer source: BP of the same seed (for BP itself, BP of the next seed).
      src_seed=$s
      if [[ $arm == bp ]]; then src_seed=$(( s == ${!#} ? first : s + 1 )); fi
      echo "== attack ${arm}_${data}-seed$s (transfer from bp_${data}-seed$src_seed)" >&2
      n=$N_MNIST; [[ $data == fashion ]] && n=$N_FASHION
      "$BUILD/dalenet" attack --model "$root/${arm}_${data}-seed$s/model.safetensors" --data "$data:test" --n "$n" \
        --steps "$STEPS" --restarts "$RESTARTS" --square-queries "$SQUARE" \
        --transfer-from "$root/bp_${data}-seed$src_seed/model.safetensors" --out "$out"
    done
  done
done
DALENET_BUILD="$BUILD" /usr/bin/python3 scripts/results_md.py runs/results > docs/RESULTS.md.tmp && mv docs/RESULTS.md.tmp docs/RESULTS.md
echo "wrote docs/RESULTS.md" >&2
