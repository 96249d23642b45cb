#!/usr/bin/env bash
# One epoch of the bio rule vs one epoch of backprop on the same architecture (784-H-10, the
# same batch size, threads and data), measured in one run. Issue 3's target: ratio <= 1.
# Usage: bench/bio_vs_bp.sh [BUILD_DIR]   (env: HIDDEN=2000 BATCH=100 THREADS=$(nproc) EPOCHS=2
#        BIO_CONFIG=experiments/bio_mnist.toml; rule version 2: BIO_CONFIG=experiments/bio_mnist_v2.toml
#        HIDDEN=2500)
set -euo pipefail
BUILD=${1:-build}
HIDDEN=${HIDDEN:-2000}
BATCH=${BATCH:-100}
THREADS=${THREADS:-$(nproc)}
EPOCHS=${EPOCHS:-2}
BIO_CONFIG=${BIO_CONFIG:-experiments/bio_mnist.toml}
here=$(cd "$(dirname "$0")" && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
common=(--quiet --set "network.hidden=[$HIDDEN]" --set train.batch="$BATCH" --set train.threads="$THREADS"
        --set train.epochs="$EPOCHS")
[[ $BIO_CONFIG = /* ]] || BIO_CONFIG=$here/../$BIO_CONFIG
"$BUILD/dalenet" train --config "$BIO_CONFIG" "${common[@]}" --set bio.readout_epochs=0 \
  --set bio.output_in_plastic_phase=true \
  --out "$out/bio"  # plastic epochs only (the readout phase, forward + output rule, is the cheap part),
                    # the output rule learning in them (bio_mnist.toml lets it wait for the readout phase)
"$BUILD/dalenet" train --config "$here/../experiments/bp_mnist.toml" "${common[@]}" --out "$out/bp"
python3 - "$out/bio/results.json" "$out/bp/results.json" "$HIDDEN" "$BATCH" "$THREADS" <<'PY'
import json, statistics, sys
bio, bp = (json.load(open(p)) for p in sys.argv[1:3])
b = statistics.median(bio["timings"]["epoch_s"]); p = statistics.median(bp["timings"]["epoch_s"])
print(f"784-{sys.argv[3]}-10, batch {sys.argv[4]}, {sys.argv[5]} threads, median epoch (training only)")
w = bio["config"]["bio"].get("window", 0)
print(f"bio: {bio['config']['train']['rule']} rule, " + (f"{w}x{w} receptive fields" if w else "full-field"))
print(f"bio rule  {b:7.2f} s")
print(f"backprop  {p:7.2f} s   (Adam)")
print(f"ratio bio/BP: {b / p:.2f}   (target: <= 1)")
PY
