# shellcheck shell=bash disable=SC2154
# Shared by test_install.sh and test_package.sh (sourced): the work folder and hiding trees
# The caller sets `name` (for messages) and `src` (the source tree) before sourcing it.

fail() { echo "$name: FAIL: $* (files kept in $work)" >&2; exit 1; }

# make_work [DIR]: $work = DIR (emptied) or a new temporary folder, removed when the test passes.
make_work() {
  if [[ $# -ge 1 ]]; then
    work=$1 && rm -rf "$work" && mkdir -p "$work" && work=$(realpath "$work")
  else
    work=$(mktemp -d "${TMPDIR:-/tmp}/dalenet-$name.XXXXXX")
    trap '[[ $? -eq 0 ]] && rm -rf "$work"' EXIT
  fi
}

# hide_trees TREE...: sets the array `hidden`, a command prefix that runs its command with an empty
# folder mounted over each TREE, in a private mount namespace. Where the kernel refuses one (not
# root), `hidden` stays empty and the tests' checks that nothing names the trees stand alone.
hide_trees() {
  hidden=()
  mkdir -p "$work/empty"
  if ! unshare -m -- mount --bind "$work/empty" "$1" 2>/dev/null; then
    echo "$name: no private mount namespace here: the checks that nothing names the trees stand alone"
    return 0
  fi
  # shellcheck disable=SC2016
  hidden=(unshare -m -- bash -c 'e=$1; n=$2; shift 2; for t in "${@:1:n}"; do mount --bind "$e" "$t" || exit 1; done;
    shift "$n"; exec "$@"' hide "$work/empty" "$#" "$@")
  "${hidden[@]}" test ! -e "$1/CMakeLists.txt" || fail "hiding $1"
  echo "$name: $* hidden from every command below"
}
