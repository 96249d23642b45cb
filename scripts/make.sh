#!/bin/sh
# For bare images without make: installs make (Debian, as root), then runs `make "$@"`.
set -e
command -v make >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq make; }
exec make -C "$(dirname "$0")/.." "$@"
