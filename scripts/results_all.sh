#!/usr/bin/env bash
# Regenerates every section of docs/RESULTS.md from the current configs, in one command: the
# quick report (`dalenet paper --preset quick`, the verdicts), the mixed-sign runs, robustness,
# few-shot, task growth and representations, then the baselines, the bio configurations and the
# page itself (scripts/results.sh), and the README's verdict lines. Each step is resumable.
# Hours on a 2-core machine: the robustness and few-shot protocols dominate (README, "The
# report"). Each section of the page names the commit and the configs that produced it.
# Usage: scripts/results_all.sh [BUILD_DIR]   (after `make build data`)
set -euo pipefail
BUILD=${1:-build}
cd "$(dirname "$0")/.."
"$BUILD/dalenet" paper --preset quick --out runs/paper-quick
bash scripts/mixed_sign.sh "$BUILD"
bash scripts/robustness.sh "$BUILD"
bash scripts/fewshot.sh "$BUILD"
bash scripts/task_growth.sh "$BUILD"
bash scripts/results.sh "$BUILD"
DALENET_BUILD="$BUILD" /usr/bin/python3 scripts/results_md.py runs/results --splice verdicts README.md
echo "regenerated docs/RESULTS.md and the README's verdicts" >&2
