#!/usr/bin/env bash
# Feature- vs task-specific encoding (issue 5, docs/EVALUATION.md): bio and BP trained on the
# first 2, 5 and 10 MNIST classes (3 seeds), then `dalenet represent` on each; the models of the
# robustness runs (runs/robust) get their representation reports too. Regenerates docs/RESULTS.md.
# env THREADS (default 0: all cores).
set -euo pipefail
BUILD=${1:-build}
THREADS=${THREADS:-0}   # 0: all cores
cd "$(dirname "$0")/.."
root=runs/task_growth
mkdir -p "$root"
for arm in bio bp; do
  for classes in "[0, 1]" "[0, 1, 2, 3, 4]" ""; do
    n=$(python3 -c "import sys; c='$classes'; print(len(eval(c)) if c else 10)")
    for s in 1 2 3; do
      run="$root/${arm}-c$n-seed$s"
      # All ten classes with this config and seed is exactly a robustness run: reuse its model.
      if [[ $n == 10 && ! -f "$run/model.safetensors" && -f "runs/robust/${arm}_mnist-seed$s/model.safetensors" ]]; then
        mkdir -p "$run" && cp "runs/robust/${arm}_mnist-seed$s/"{model.safetensors,results.json,config.toml} "$run/"
      fi
      if [[ ! -f "$run/model.safetensors" ]]; then
        echo "== train $run" >&2
        if [[ -n "$classes" ]]; then
          "$BUILD/dalenet" train --quiet --config "experiments/${arm}_mnist.toml" --set train.seed="$s" --set train.threads="$THREADS" \
            --set "data.classes=$classes" --out "$run" --overwrite
        else
          "$BUILD/dalenet" train --quiet --config "experiments/${arm}_mnist.toml" --set train.seed="$s" --set train.threads="$THREADS" \
            --out "$run" --overwrite
        fi
      fi
      [[ -f "$run/representation.json" ]] || "$BUILD/dalenet" represent --model "$run/model.safetensors" --threads "$THREADS" \
        --data mnist:test --limit 5000 --png "$run/receptive_fields.png" --out "$run/representation.json" > /dev/null
    done
  done
done
# Representation reports of the robustness models (every arm, both data sets, 3 seeds).
for run in runs/robust/*-seed*/; do
  [[ -f "$run/model.safetensors" ]] || continue
  case "$run" in *fashion*) data=fashion:test ;; *) data=mnist:test ;; esac
  [[ -f "$run/representation.json" ]] || "$BUILD/dalenet" represent --model "$run/model.safetensors" --threads "$THREADS" \
    --data "$data" --limit 5000 --png "$run/receptive_fields.png" --out "$run/representation.json" > /dev/null
done
DALENET_BUILD="$BUILD" /usr/bin/python3 scripts/results_md.py runs/results > docs/RESULTS.md.tmp && mv docs/RESULTS.md.tmp docs/RESULTS.md
echo "wrote docs/RESULTS.md" >&2
