#!/usr/bin/env bash
# Regenerates docs/RESULTS.md from fresh runs: every number in it comes from the results.json
# files this script produces (runs/results/<config>-seed<N>/). About 5 minutes on 2 cores.
# Usage: scripts/results.sh [BUILD_DIR]     (after `make data`)
set -euo pipefail
BUILD=${1:-build}
cd "$(dirname "$0")/.."
runs=runs/results
mkdir -p "$runs"
train() {  # config seed [extra --set ...]
  local cfg=$1 seed=$2; shift 2
  local name; name=$(basename "$cfg" .toml)-seed$seed${TAG:-}
  echo "== $name" >&2
  "$BUILD/dalenet" train --quiet --config "$cfg" --set train.seed="$seed" "$@" --out "$runs/$name" --overwrite
}
for s in 1 2 3; do
  train experiments/bp_mnist.toml "$s"
  TAG=-constant train experiments/bp_mnist.toml "$s" --set train.lr_schedule=constant
  train experiments/bp_fashion.toml "$s"
done
train experiments/bp_sign_mnist.toml 1
train experiments/eg_mnist.toml 1
python3 scripts/results_md.py "$runs" > docs/RESULTS.md.tmp && mv docs/RESULTS.md.tmp docs/RESULTS.md
echo "wrote docs/RESULTS.md" >&2
