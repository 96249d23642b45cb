#!/usr/bin/env bash
# dalenet vs PyTorch on the same work, measured in one run: the 784-1000-10 ReLU MLP, PyTorch's
# nn.Linear init, Adam (lr 1e-3), batch 128, MNIST (55 000 training images after the 5 000-image
# validation split), the same thread count. Each side trains EPOCHS epochs in one process; the
# table reports the median epoch time (training only), the test accuracy after those epochs and
# the ratio dalenet/PyTorch. The peer runs Debian's python3-torch on OpenBLAS
# (libopenblas0-pthread; scripts/install-deps.sh --with-torch installs it); its 1000^3 matmul
# GFLOP/s is printed as proof that it does not run on the reference BLAS.
# Usage: bench/vs_pytorch.sh [BUILD_DIR]   (env: THREADS=2 EPOCHS=3 DALENET_DATA=...)
set -euo pipefail
BUILD=${1:-build}
THREADS=${THREADS:-$(nproc)}
EPOCHS=${EPOCHS:-3}
PY=/usr/bin/python3   # Debian's python, where python3-torch lives
here=$(cd "$(dirname "$0")" && pwd)
data=${DALENET_DATA:-$HOME/.cache/dalenet}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

"$PY" -c 'import torch' 2>/dev/null || { echo "vs_pytorch: python3-torch missing (run: bash scripts/install-deps.sh --with-torch)" >&2; exit 1; }
blas=$(ldconfig -p | grep -q libopenblas && echo "OpenBLAS (libopenblas0-pthread)" || echo "reference BLAS (slow: install libopenblas0-pthread)")

echo "== dalenet: $EPOCHS epochs, $THREADS threads" >&2
"$BUILD/dalenet" train --quiet --config "$here/../experiments/bp_mnist.toml" \
  --set train.epochs="$EPOCHS" --set train.threads="$THREADS" --set train.lr_schedule=constant \
  --out "$out/dalenet"
echo "== PyTorch: $EPOCHS epochs, $THREADS threads" >&2
"$PY" "$here/torch_peer.py" --data "$data" --epochs "$EPOCHS" --threads "$THREADS" > "$out/torch.json"

"$PY" - "$out/dalenet/results.json" "$out/torch.json" "$blas" "$THREADS" "$EPOCHS" <<'PY'
import json, statistics, sys
d = json.load(open(sys.argv[1])); t = json.loads(open(sys.argv[2]).read().strip().splitlines()[-1])
blas, threads, epochs = sys.argv[3], sys.argv[4], sys.argv[5]
de = statistics.median(d["timings"]["epoch_s"]); te = statistics.median(t["epoch_s"])
da = d["metrics"]["test"]["accuracy"]; ta = t["test_accuracy"]
gf = 2 * 2 * 55000 * (784 * 1000 + 1000 * 10) / 1e9  # forward + weight-gradient GEMMs per epoch
print(f"BP epoch, 784-1000-10 ReLU, Adam, batch 128, MNIST, {threads} threads, median of {epochs} epochs")
print(f"{'':10} {'epoch s':>9} {'GFLOP/s':>9} {'test acc':>9}")
print(f"{'dalenet':10} {de:9.3f} {gf/de:9.1f} {100*da:8.2f}%")
print(f"{'PyTorch':10} {te:9.3f} {gf/te:9.1f} {100*ta:8.2f}%   torch {t['torch']}, {blas}, matmul 1000^3 {t['matmul_gflops_1000']:.0f} GFLOP/s")
print(f"ratio dalenet/PyTorch (epoch time): {de/te:.3f}")
PY
