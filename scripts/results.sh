#!/usr/bin/env bash
# Regenerates docs/RESULTS.md from fresh runs: every number in it comes from the results.json
# and analysis.json files this script produces (runs/results/<name>/), from runs/paper-quick
# (`make demo`) and from the other scripts' run folders where present (mixed_sign.sh,
# robustness.sh, fewshot.sh, task_growth.sh); a section whose runs are absent says so (nothing
# is carried over from an earlier page). Each section is stamped with the commit and the hash of
# every config it describes (tests/scripts/test_results_fresh.py). About 40 minutes on 2 cores (13 of them the three
# N_E = 8000 Fashion-MNIST runs).
# Usage: scripts/results.sh [BUILD_DIR]     (after `make data`)
#        ANALYZE_ONLY=1 scripts/results.sh   re-runs only the audit and the page on existing runs
#        SKIP_BASELINES=1 scripts/results.sh keeps existing backprop runs, (re)runs the rest
set -euo pipefail
BUILD=${1:-build}
cd "$(dirname "$0")/.."
source scripts/results_lib.sh
if [[ "${ANALYZE_ONLY:-0}" != 1 ]]; then
if [[ "${SKIP_BASELINES:-0}" != 1 ]]; then
# Backprop baselines (issue 2): 3 seeds each.
for s in 1 2 3; do
  train "bp_mnist-seed$s" experiments/bp_mnist.toml --set train.seed="$s"
  train "bp_mnist-constant-seed$s" experiments/bp_mnist.toml --set train.seed="$s" --set train.lr_schedule=constant
  train "bp_fashion-seed$s" experiments/bp_fashion.toml --set train.seed="$s"
done
train bp_sign_mnist-seed1 experiments/bp_sign_mnist.toml
train eg_mnist-seed1 experiments/eg_mnist.toml
fi
# The bio rule (issue 3).
train bio_mnist-seed1 experiments/bio_mnist.toml
for s in 1 2 3; do train "bio_mnist_ne2000-seed$s" experiments/bio_mnist_ne2000.toml --set train.seed="$s"; done
train bio_mnist_ne200-seed1 experiments/bio_mnist_ne200.toml
train bio_fashion-seed1 experiments/bio_fashion.toml
for s in 1 2 3; do train "bio_fashion_ne8000-seed$s" experiments/bio_fashion_ne8000.toml --set train.seed="$s"; done
# Ablations: the N_E = 200 configuration with one switch each.
base=experiments/bio_mnist_ne200.toml
train ablation-additive "$base" --set bio.hidden_update=additive
train ablation-kwta "$base" --set bio.competition=kwta
train ablation-no-structural "$base" --set bio.structural=false
train ablation-no-homeostasis "$base" --set bio.homeostasis=false
train ablation-output-perturbation "$base" --set bio.output_rule=perturbation --set bio.eta_output=0.01
train ablation-regrowth "$base" --set bio.regrowth=0.001
train ablation-divisive "$base" --set bio.divisive=true --set bio.eta_output=20
train ablation-reward "$base" --set bio.hidden_modulation=reward --set bio.reward_punish=0.3 \
  --set bio.output_in_plastic_phase=true --set bio.eta_output=0.05  # needs an output that learns in the plastic
                                                                    # epochs; eta_output as before that switch
train ablation-anneal "$base" --set bio.hebbian_exponent=4 --set bio.hebbian_anneal=true
train ablation-mean "$base" --set bio.hidden_update=mean --set bio.hebbian_exponent=32 --set bio.hebbian_anneal=true --set bio.eta_hidden=0.3
fi
# The audit of every model.
for d in "$runs"/*/; do
  name=$(basename "$d")
  case "$name" in *fashion*) data=fashion:test ;; *) data=mnist:test ;; esac
  analyze "$name" "$data"
done
DALENET_BUILD="$BUILD" /usr/bin/python3 scripts/results_md.py "$runs" > docs/RESULTS.md.tmp && mv docs/RESULTS.md.tmp docs/RESULTS.md
echo "wrote docs/RESULTS.md" >&2
