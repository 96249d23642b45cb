#!/usr/bin/env bash
# The mixed-sign experiment of issue 3 (docs/RULE.md "Mixed-sign start"): the bio rule from a
# start whose signs are drawn per synapse, not per neuron, with both ways of extending H3 to
# negative weights (bio.signed_hebbian = magnitude | efficacy), next to the per-neuron start.
# N_E = 200: 3 seeds; N_E = 1600: seed 1. Then the transmitter-commitment runs (below). About
# 15 minutes on 2 cores. Then splices the
# "Mixed-sign start" section of docs/RESULTS.md (the rest of the file is left as it is).
# Usage: scripts/mixed_sign.sh [BUILD_DIR]     (after `make data`)
set -euo pipefail
BUILD=${1:-build}
cd "$(dirname "$0")/.."
source scripts/results_lib.sh
run() {  # name config [--set ...]: train, then the audit on the MNIST test set
  train "$@"
  analyze "$1" mnist:test
}
for s in 1 2 3; do
  for v in magnitude efficacy; do
    run "mixed-$v-mnist_ne200-seed$s" experiments/bio_mnist_ne200.toml --set train.seed="$s" \
      --set network.sign_init=mixed --set bio.signed_hebbian="$v"
  done
  run "bio_mnist_ne200-seed$s" experiments/bio_mnist_ne200.toml --set train.seed="$s"
done
for v in magnitude efficacy; do
  run "mixed-$v-mnist-seed1" experiments/bio_mnist.toml --set network.sign_init=mixed --set bio.signed_hebbian="$v"
done
[[ -f "$runs/bio_mnist-seed1/analysis.json" ]] || run bio_mnist-seed1 experiments/bio_mnist.toml
# Transmitter commitment (issue 35; docs/RULE.md D1-D5), on the paper's mixed-sign arm
# experiments/bio_mixed_<data>.toml: with it (as configured), its gamma = 1 control (no
# instability), without it, and the per-neuron start of the same size; 3 seeds, MNIST and
# Fashion-MNIST, each audited on its own test set.
for d in mnist fashion; do
  for s in 1 2 3; do
    cfg=experiments/bio_mixed_$d.toml
    train "dale-commit-$d-seed$s" "$cfg" --set train.seed="$s"
    train "dale-gamma1-$d-seed$s" "$cfg" --set train.seed="$s" --set bio.commitment_gamma=1
    train "dale-none-$d-seed$s" "$cfg" --set train.seed="$s" --set bio.commitment=false
    train "dale-per_neuron-$d-seed$s" "$cfg" --set train.seed="$s" --set bio.commitment=false \
      --set network.sign_init=per_neuron
    for arm in commit gamma1 none per_neuron; do analyze "dale-$arm-$d-seed$s" "$d:test"; done
  done
done
DALENET_BUILD="$BUILD" /usr/bin/python3 scripts/results_md.py "$runs" --splice mixed_sign docs/RESULTS.md
echo "updated the mixed-sign section of docs/RESULTS.md" >&2
