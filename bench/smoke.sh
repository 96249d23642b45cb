#!/usr/bin/env bash
# CTest Bench.WorkloadsRun: every workload of `make bench` runs once, briefly, on the real data, so
# that a change to the experiments' configs or the library cannot leave the benchmark unable to
# start (it did once: bio_mnist.toml's output_in_plastic_phase = false refused the benchmarks'
# readout_epochs = 0, and nothing ran `make bench` until the next measurement). Times are not
# checked: this is not a benchmark; heap allocations per step of the hot loops are (a count, which
# must be 0). Exit 77 (skipped) when MNIST is not in the data cache.
# Usage: bench/smoke.sh BUILD_DIR
set -euo pipefail
BUILD=$1
here=$(cd "$(dirname "$0")" && pwd)
data=${DALENET_DATA:-$HOME/.cache/dalenet}
if [ ! -e "$data/mnist/t10k-labels-idx1-ubyte" ] && [ ! -e "$data/mnist/t10k-labels-idx1-ubyte.gz" ]; then
  echo "MNIST not in $data (run dalenet data fetch): skipped"
  exit 77
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
w="$BUILD/bench/dalenet_workloads"
"$w" bp_epoch --config "$here/../experiments/bp_mnist.toml" --epochs 1 --threads 2 --out "$out/bp" > "$out/bp.json"
"$w" bio_epoch --config "$here/../experiments/bio_mnist.toml" --epochs 1 --threads 2 --out "$out/bio" > "$out/bio.json"
for m in bp bio; do
  "$w" pgd --model "$out/$m/model.safetensors" --repeats 1 --threads 2 > "$out/pgd_$m.json"
  "$w" inference --model "$out/$m/model.safetensors" --repeats 1 --threads 2 > "$out/inference_$m.json"
done
HIDDEN=100 EPOCHS=1 bash "$here/bio_vs_bp.sh" "$BUILD" > "$out/bio_vs_bp.txt"
python3 - "$out" <<'PY'
import json, sys
d = sys.argv[1]
r = {k: json.load(open(f"{d}/{k}.json")) for k in ("bp", "bio", "pgd_bp", "pgd_bio", "inference_bp", "inference_bio")}
assert r["bp"]["test_accuracy"] > 0.9, r["bp"]          # one epoch of Adam
assert r["bio"]["test_accuracy"] > 0.5, r["bio"]        # one plastic epoch with the output learning
assert r["pgd_bp"]["incremental"] is True, r["pgd_bp"]  # the BP model takes the incremental PGD path
assert r["pgd_bio"]["incremental"] is False, r["pgd_bio"]
for k, v in r.items():
    assert all(s > 0 for s in v["seconds"]), (k, v)
# Issue 8: no heap allocation per steady-state step of the hot loops (a training batch, a PGD
# step), counted by dalenet_workloads' malloc interposer. A count, not a time.
for k in ("bp", "bio", "pgd_bp", "pgd_bio"):
    assert r[k]["allocations_per_batch"] == 0, (k, r[k]["allocations_per_batch"])
print("workloads ran:", ", ".join(f"{k} {v['seconds'][0]:.2f} s" for k, v in r.items()))
PY
grep "ratio bio/BP" "$out/bio_vs_bp.txt"
