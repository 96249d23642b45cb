# Shared by scripts/results.sh and scripts/mixed_sign.sh (sourced): the run folder and the two
# steps behind every row of docs/RESULTS.md. Expects BUILD to be set and the repository root as
# the working directory.
runs=runs/results
mkdir -p "$runs"
train() {  # name config [--set ...]
  local name=$1 cfg=$2; shift 2
  echo "== $name" >&2
  "$BUILD/dalenet" train --quiet --config "$cfg" "$@" --out "$runs/$name" --overwrite
}
analyze() {  # name data
  "$BUILD/dalenet" analyze --model "$runs/$1/model.safetensors" --data "$2" --limit 2000 --json \
    --out "$runs/$1/analysis.json" > /dev/null
}
