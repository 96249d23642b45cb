#!/usr/bin/env bash
# The README's screenshot of the report: the top of DIR/index.html rendered by headless Chromium.
# Usage: scripts/report_screenshot.sh [DIR] [PNG]   (defaults: runs/paper-quick docs/figures/report.png)
set -euo pipefail
dir=${1:-runs/paper-quick}
png=${2:-docs/figures/report.png}
command -v chromium > /dev/null || { echo "chromium is not installed (scripts/install-deps.sh --with-browser)" >&2; exit 1; }
[[ -f "$dir/index.html" ]] || { echo "$dir/index.html does not exist (make demo writes it)" >&2; exit 1; }
tmp="$png.tmp.png"
chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --hide-scrollbars --window-size=1200,1500 \
  --virtual-time-budget=10000 --screenshot="$tmp" "file://$(realpath "$dir/index.html")" 2> /dev/null
mv "$tmp" "$png"
echo "wrote $png"
