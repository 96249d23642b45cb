#!/usr/bin/env bash
# dalenet as a dependency (docs/INSTALL.md): install BUILD into a temporary prefix, then use only
# the installed package: build examples/custom_rule against it with find_package(dalenet), build a
# program with pkg-config, and run the installed CLI and Python module with the plugin rule on
# MNIST (train, audit, attack). Exit 77 (skipped) when the MNIST cache is missing.
# Usage: test_install.sh BUILD_DIR [WORK_DIR]  (WORK_DIR outside the source and build trees; by
# default a new temporary folder, removed when the test passes)
set -euo pipefail
build=$(realpath "$1")
src=$(cd "$(dirname "$0")/../.." && pwd)
name=test_install
# shellcheck source=tests/install/common.sh
source "$(dirname "$0")/common.sh"
make_work "${@:2}"
case "$work/" in "$src/"* | "$build/"*) fail "WORK_DIR must lie outside the source and build trees" ;; esac
prefix=$work/prefix

cmake --install "$build" --prefix "$prefix" >"$work/install.log"
dn=$prefix/bin/dalenet
libdir=$(dirname "$(find "$prefix" -name 'libdalenet.so' | head -1)")
pydir=$(dirname "$(dirname "$(find "$prefix" -name '_core*.so' | head -1)")")
[[ -d $libdir && -d $pydir ]] || fail "no libdalenet.so or Python module under $prefix"
for f in bin/dalenet include/dalenet/rule.hpp include/dalenet/plugin.hpp include/dalenet/version.hpp \
         share/doc/dalenet/cli-help.txt share/doc/dalenet/INSTALL.md share/doc/dalenet/examples/custom_rule/oja_rule.cpp; do
  [[ -e $prefix/$f ]] || fail "the install lacks $f"
done
for f in cmake/dalenet/dalenetConfig.cmake cmake/dalenet/dalenetConfigVersion.cmake cmake/dalenet/dalenetTargets.cmake \
         pkgconfig/dalenet.pc; do
  [[ -e $libdir/$f ]] || fail "the install lacks $libdir/$f"
done
grep -q "## dalenet attack" "$prefix/share/doc/dalenet/cli-help.txt" || fail "cli-help.txt lacks the attack command"

# Nothing installed may point back into the source or build tree: not a text file...
if grep -rIl -e "$src/" -e "$build/" "$prefix" | grep -v '/share/doc/'; then
  fail "installed files above name the source or build tree"
fi
# ...nor a binary's run path (relative: \$ORIGIN/...).
for f in "$dn" "$libdir"/libdalenet.so "$pydir"/dalenet/_core*.so; do
  rp=$(readelf -d "$f" | grep -E 'RPATH|RUNPATH' || true)
  if [[ $rp == *"$build"* || $rp == *"$src"* ]]; then fail "$f has a run path into the tree: $rp"; fi
done

version=$(sed -n 's/.*kVersion = "\(.*\)";/\1/p' "$prefix/include/dalenet/version.hpp")
[[ $("$dn" --version) == "$version" ]] || fail "installed dalenet --version is not $version"

# From here on, the source and build trees are out of reach where the kernel allows a private
# mount namespace (root, as in CI): an empty folder is mounted over them for every command.
cp -r "$src/examples/custom_rule" "$work/custom_rule"
rm -rf "$work/custom_rule/build"
case "$build/" in "$src/"*) hide_trees "$src" ;; *) hide_trees "$src" "$build" ;; esac

# The example against the installed package only: a copy outside the tree, CMake's package
# registry off, and no compile or link command naming the source or build tree.
"${hidden[@]}" cmake -S "$work/custom_rule" -B "$work/custom_rule/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_EXPORT_COMPILE_COMMANDS=ON \
  >"$work/example-configure.log" || { cat "$work/example-configure.log"; fail "configuring examples/custom_rule"; }
"${hidden[@]}" cmake --build "$work/custom_rule/build" >"$work/example-build.log" || { cat "$work/example-build.log"; fail "building examples/custom_rule"; }
if grep -l -e "$src/" -e "$build/" "$work/custom_rule/build/compile_commands.json" "$work/custom_rule/build/build.ninja"; then
  fail "the example's build names the source or build tree"
fi
plugin=$work/custom_rule/build/liboja_rule.so
# Output captured before grep reads it: `cmd | grep -q` under pipefail fails whenever grep stops
# at its match before cmd has written everything (cmd then dies of SIGPIPE).
rules=$("${hidden[@]}" "$dn" rules --plugin "$plugin")
grep -q "^oja " <<<"$rules" || fail "dalenet rules --plugin does not list oja"

# pkg-config: a program that links libdalenet.
cat >"$work/hello.cpp" <<'CPP'
#include <iostream>
#include "dalenet/rule.hpp"
#include "dalenet/version.hpp"
int main() { std::cout << dalenet::kVersion << " " << dalenet::rule_registry().size() << "\n"; }
CPP
# shellcheck disable=SC2046
"${hidden[@]}" g++ "$work/hello.cpp" -o "$work/hello" $(PKG_CONFIG_PATH=$libdir/pkgconfig pkg-config --cflags --libs dalenet) \
  -Wl,-rpath,"$libdir" || fail "compiling with pkg-config's flags"
hello=$("${hidden[@]}" "$work/hello")
grep -q " 5$" <<<"$hello" || fail "the pkg-config program does not see the 5 built-in rules"
# Every installed header compiles on its own from the installed include folder (one file per
# header, named after it, so that a compiler error names the header; as many at once as cores).
mkdir -p "$work/headers"
for h in "$prefix"/include/dalenet/*.hpp; do
  printf '#include "dalenet/%s"\n' "$(basename "$h")" >"$work/headers/$(basename "$h" .hpp).cpp"
done
read -ra cflags <<<"$(PKG_CONFIG_PATH=$libdir/pkgconfig pkg-config --cflags dalenet)"
printf '%s\0' "$work"/headers/*.cpp | xargs -0 -n 1 -P "$(nproc)" "${hidden[@]}" g++ -fsyntax-only "${cflags[@]}" \
  || fail "an installed header above does not compile on its own"

# The plugin rule on MNIST with the installed CLI: train, audit, attack.
if ! "${hidden[@]}" "$dn" data verify >/dev/null 2>&1; then echo "test_install: no MNIST cache (dalenet data fetch): skipped"; exit 77; fi
"${hidden[@]}" "$dn" train --config "$work/custom_rule/oja_mnist.toml" --set data.train_limit=20000 --set data.validation=1000 \
  --set data.test_limit=2000 --set train.epochs=2 --set train.threads=2 --out "$work/run" --quiet \
  || fail "training the plugin rule"
acc=$(python3 -c "import json;print(json.load(open('$work/run/results.json'))['metrics']['test']['accuracy'])")
echo "test_install: oja plugin, 20000 images x 2 epochs: test accuracy $acc"
python3 -c "import sys; sys.exit(0 if $acc > 0.75 else 1)" || fail "oja test accuracy $acc <= 0.75 (chance: 0.1)"
"${hidden[@]}" "$dn" analyze --model "$work/run/model.safetensors" --limit 500 --json >"$work/audit.json" || fail "auditing"
python3 - "$work/audit.json" <<'PY' || fail "the audit of the plugin model"
import json, sys
a = json.load(open(sys.argv[1]))
assert "initial_error" not in a, a.get("initial_error")  # the plugin reloaded from the model's config
assert len(a["projections"]) == 2 and len(a["initial"]) == 2
PY
"${hidden[@]}" "$dn" attack --model "$work/run/model.safetensors" --n 200 --attacks fgsm,pgd_ce --eps 0.1 --steps 20 --restarts 1 \
  --no-unbounded-check --threads 2 --quiet --out "$work/attack" || fail "attacking"
python3 - "$work/attack/robustness.json" <<'PY' || fail "the attack of the plugin model"
import json, sys
r = json.load(open(sys.argv[1]))
m = r["models"][0]
clean = m["clean_accuracy"]
robust = next(e["robust_accuracy"] for e in m["robust"] if abs(e["eps"] - 0.1) < 1e-9)
print(f"test_install: attack at eps 0.1: clean {clean:.3f}, worst case {robust:.3f}")
assert robust < clean  # an attack that moves nothing would be a broken attack
PY

# The plugin rule as an arm of `dalenet paper`, beside the built-in bio and bp arms: trained,
# audited, attacked and in the report (tests/data/paper_tiny.toml's tiny settings, one seed).
mkdir -p "$work/paper/cfg"
cp "$src/experiments/bio_mnist.toml" "$src/experiments/bp_mnist.toml" "$work/paper/cfg/"
sed "s|build/liboja_rule.so|$plugin|" "$work/custom_rule/oja_mnist.toml" >"$work/paper/cfg/oja_mnist.toml"
sed -e 's|^arms = \["bio", "bp", "bio_mixed"\]|arms = ["bio", "bp", "oja"]|' -e 's|^seeds = \[1, 2\]|seeds = [1]|' \
  -e "s|^config_dir = \"experiments\"|config_dir = \"$work/paper/cfg\"|" -e 's|^bio_mixed = |oja = |' \
  "$src/tests/data/paper_tiny.toml" >"$work/paper/tiny.toml"
grep -q '^arms = \["bio", "bp", "oja"\]' "$work/paper/tiny.toml" || fail "could not make the paper config"
"${hidden[@]}" "$dn" paper --config "$work/paper/tiny.toml" --out "$work/paper/out" --quiet >"$work/paper.log" 2>&1 \
  || { cat "$work/paper.log"; fail "dalenet paper with the plugin arm"; }
python3 - "$work/paper/out/results.json" <<'PY' || fail "the paper report of the plugin arm"
import json, sys
r = json.load(open(sys.argv[1]))
acc = {a["arm"]: a["accuracy"] for a in r["accuracy"]}
assert set(acc) == {"bio", "bp", "oja"}, acc
assert "oja" in json.dumps(r["audit"]) and "oja" in json.dumps(r["robustness"]), "oja missing from audit or robustness"
print("test_install: dalenet paper with the plugin arm: test accuracy per arm", acc)
PY

# The installed Python module, from its installed location, with the plugin.
PYTHONPATH=$pydir "${hidden[@]}" /usr/bin/python3 - "$prefix" "$plugin" <<'PY' || fail "the installed Python module"
import sys
import dalenet
prefix, plugin = sys.argv[1], sys.argv[2]
assert dalenet.__file__.startswith(prefix), dalenet.__file__
dalenet.load_plugin(plugin)
names = [r["name"] for r in dalenet.rules()]
assert "oja" in names, names
print("test_install: python", dalenet.__version__, "from", dalenet.__file__, "rules", names)
PY
echo "test_install: OK"
