#!/usr/bin/env bash
# Few-shot generalisation of every arm on MNIST and Fashion-MNIST (issue 5; regime C: issue 33), then the task-growth
# runs and the representation reports; regenerates docs/RESULTS.md. Resumable (finished units and
# runs are skipped). Usage: scripts/fewshot.sh [BUILD_DIR]   (after `make data`)
#   env DRAWS (default: the config's 10), THREADS (1: small k-shot sets gain nothing from more)
set -euo pipefail
BUILD=${1:-build}
cd "$(dirname "$0")/.."
THREADS=${THREADS:-1}
extra=()
[[ -n "${DRAWS:-}" ]] && extra+=(--draws "$DRAWS")
for data in mnist fashion; do
  echo "== fewshot $data" >&2
  "$BUILD/dalenet" fewshot --config "experiments/fewshot_$data.toml" --out "runs/fewshot_$data" \
    --threads "$THREADS" "${extra[@]}" > "runs/fewshot_$data.txt"
  echo "== fewshot regime C $data" >&2  # issue 33: hidden layers from the unlabelled images
  "$BUILD/dalenet" fewshot --config "experiments/fewshot_unlabelled_$data.toml" --out "runs/fewshot_unlabelled_$data" \
    --threads "$THREADS" "${extra[@]}" > "runs/fewshot_unlabelled_$data.txt"
done
DALENET_BUILD="$BUILD" /usr/bin/python3 scripts/results_md.py runs/results --splice regime_c docs/RESULTS.md
bash scripts/task_growth.sh "$BUILD"
