#!/usr/bin/env bash
# The Debian package of `make package` (docs/INSTALL.md): its contents and control fields, whether
# apt resolves its dependencies on this Debian, and the package unpacked into an empty root: the
# CLI's version and a short MNIST run, the Python module, and examples/custom_rule built against
# it and loaded by its CLI.
# Usage: test_package.sh DEB [WORK_DIR]  (by default a new temporary folder, removed when the test
# passes). Where the kernel allows a private mount namespace (root, as in CI), the source tree is
# hidden from the unpacked package's commands.
set -euo pipefail
deb=$(realpath "$1")
src=$(cd "$(dirname "$0")/../.." && pwd)
name=test_package
# shellcheck source=tests/install/common.sh
source "$(dirname "$0")/common.sh"
make_work "${@:2}"

echo "== $deb"
dpkg-deb --field "$deb" Package Version Architecture Depends Recommends Suggests Section Installed-Size
dpkg-deb --contents "$deb" >"$work/contents.txt"
echo "== contents: $(wc -l <"$work/contents.txt") entries, e.g."
grep -E 'bin/dalenet$|libdalenet\.so|dalenetConfig\.cmake|dalenet\.pc|plugin\.hpp|dist-packages/dalenet/_core|cli-help\.txt' \
  "$work/contents.txt" | awk '{print "  " $6}'
for f in ./usr/bin/dalenet ./usr/include/dalenet/plugin.hpp ./usr/include/dalenet/version.hpp \
         ./usr/share/doc/dalenet/cli-help.txt ./usr/share/doc/dalenet/examples/custom_rule/oja_rule.cpp; do
  grep -q " $f$" "$work/contents.txt" || fail "the package lacks $f"
done
grep -qE ' \./usr/lib/python3/dist-packages/dalenet/_core[^ ]*\.so$' "$work/contents.txt" || fail "no Python module in lib/python3/dist-packages"
depends=$(dpkg-deb --field "$deb" Depends)
for d in libc6 libgomp1 libstdc++6 python3 python3-numpy libeigen3-dev nlohmann-json3-dev; do
  [[ $depends == *"$d"* ]] || fail "Depends lacks $d: $depends"
done
[[ $(dpkg-deb --field "$deb" Architecture) == amd64 ]] || fail "Architecture is not amd64"
[[ $(basename "$deb") =~ ^dalenet_[0-9]+\.[0-9]+\.[0-9]+_amd64\.deb$ ]] || fail "file name $(basename "$deb")"
apt-get install --simulate --no-install-recommends "$deb" >"$work/apt-simulate.log" 2>&1 \
  || { cat "$work/apt-simulate.log"; fail "apt cannot resolve the package's dependencies"; }
echo "== apt resolves the dependencies"

# Unpacked into an empty root: no file of the source or build tree is on any path it uses.
root=$work/root
dpkg-deb -x "$deb" "$root"
cp -r "$src/examples/custom_rule" "$work/custom_rule" && rm -rf "$work/custom_rule/build"
hidden=()
case "$work/" in "$src/"*) ;; *) hide_trees "$src" ;; esac
dn=$root/usr/bin/dalenet
version=$(dpkg-deb --field "$deb" Version)
[[ $("${hidden[@]}" "$dn" --version) == "$version" ]] || fail "dalenet --version is not $version"
# Output captured before grep reads it: `cmd | grep -q` under pipefail fails whenever grep stops
# at its match before cmd has written everything (cmd then dies of SIGPIPE).
libs=$("${hidden[@]}" ldd "$dn")
grep -q "libdalenet[^ ]* => $root/" <<<"$libs" || fail "the CLI does not load the package's libdalenet: $libs"
PYTHONPATH=$root/usr/lib/python3/dist-packages "${hidden[@]}" /usr/bin/python3 -c "
import dalenet, sys
assert dalenet.__file__.startswith('$root'), dalenet.__file__
print('== python: dalenet', dalenet.__version__, 'from', dalenet.__file__)" || fail "import dalenet from the package"
if "${hidden[@]}" "$dn" data verify >/dev/null 2>&1; then
  "${hidden[@]}" "$dn" train --set data.train_limit=5000 --set data.validation=500 --set data.test_limit=500 --set train.epochs=1 \
    --set network.hidden=[50] --set train.threads=2 --out "$work/run" --quiet || fail "training with the packaged CLI"
  python3 -c "import json; a=json.load(open('$work/run/results.json'))['metrics']['test']['accuracy']; print('== packaged CLI, bp 5000 images x 1 epoch: test accuracy', a); assert a > 0.6"
else
  echo "== no MNIST cache: the short training run is left out"
fi

if ! { "${hidden[@]}" cmake -S "$work/custom_rule" -B "$work/custom_rule/build" -G Ninja -DCMAKE_PREFIX_PATH="$root/usr" \
         -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF && "${hidden[@]}" cmake --build "$work/custom_rule/build"; } >"$work/example.log" 2>&1; then
  cat "$work/example.log"
  fail "building examples/custom_rule against the package"
fi
rules=$("${hidden[@]}" "$dn" rules --plugin "$work/custom_rule/build/liboja_rule.so")
grep -q "^oja " <<<"$rules" || fail "the packaged CLI does not load the example plugin"
echo "== examples/custom_rule builds against the package and its CLI loads it"
echo "test_package: OK"
