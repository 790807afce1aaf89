#!/bin/sh
# Screenshot the HTML report in headless Chromium, to check that it renders and reads well.
#
#   scripts/screenshot-report.sh [REPORT.html] [OUT.png]
#
# Without REPORT.html it first generates the `compare` report of the built-in demo
# (`proxysched compare --report`). OUT.png defaults to report.png. The window is 1400x2000
# unless SIZE=WIDTH,HEIGHT says otherwise. Needs Chromium (`apt-get install -y chromium`);
# CHROMIUM=/path/to/binary picks one. CI does not run this script.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
html=${1:-}
png=${2:-report.png}
size=${SIZE:-1400,2000}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

if [ -z "$html" ]; then
    html=$tmp/report.html
    if ! (cd "$root" && cargo run --release --quiet -- compare --quiet --report "$html"); then
        # A proxysched without --report: render through the report crate's example instead.
        echo "screenshot-report: falling back to the render_report example" >&2
        (cd "$root" && cargo run --release --quiet -p proxysched-report --example render_report \
            -- compare "$html")
    fi
fi
if [ ! -f "$html" ]; then
    echo "screenshot-report: $html: no such file" >&2
    exit 2
fi

chromium=${CHROMIUM:-}
if [ -z "$chromium" ]; then
    for c in chromium chromium-browser google-chrome google-chrome-stable; do
        if command -v "$c" >/dev/null 2>&1; then
            chromium=$c
            break
        fi
    done
fi
if [ -z "$chromium" ]; then
    echo "screenshot-report: no Chromium found (apt-get install -y chromium, or set CHROMIUM)" >&2
    exit 2
fi

case $html in
    /*) abs=$html ;;
    *) abs=$(pwd)/$html ;;
esac
case $png in
    /*) out=$png ;;
    *) out=$(pwd)/$png ;;
esac

# No network: the report is self-contained, and Chromium's own background traffic is off.
"$chromium" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --hide-scrollbars --user-data-dir="$tmp/profile" \
    --screenshot="$out" --window-size="$size" "file://$abs" 2>"$tmp/chromium.log" || {
    cat "$tmp/chromium.log" >&2
    exit 1
}
if [ ! -s "$out" ]; then
    cat "$tmp/chromium.log" >&2
    echo "screenshot-report: Chromium wrote no screenshot" >&2
    exit 1
fi
echo "$out"
