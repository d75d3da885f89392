#!/usr/bin/env bash
# Renders the viz demonstration report in headless Chromium and checks that it loads with no
# errors and that every image decoded and every SVG plot has a non-zero size.
#
#   tests/viz/render_report.sh path/to/viz_report_fixture
#
# The page checks itself once loaded (an inline script in every ember report) and writes "ok" or
# "fail: ..." into <body data-check="...">; this script reads the DOM Chromium dumps. Network
# access is switched off, so anything the page tried to fetch would fail the check.
# Set EMBER_VIZ_SCREENSHOT=FILE.png to keep a screenshot of the page as well.
# A deliberately broken copy of the page is checked first, to show the check can fail.
# Exit status: 0 passed, 1 failed, 77 skipped (no Chromium), 2 usage.
set -euo pipefail

fixture=${1:-}
if [[ -z $fixture || ! -x $fixture ]]; then
  echo "usage: $0 VIZ_REPORT_FIXTURE" >&2
  exit 2
fi
chromium=${CHROMIUM:-/usr/bin/chromium}
if [[ ! -x $chromium ]]; then
  echo "SKIP: chromium not installed"
  exit 77
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$fixture" "$work/report" >/dev/null
page="file://$work/report/index.html"

flags=(
  --headless --no-sandbox --disable-gpu --disable-quic --no-first-run
  --disable-background-networking --disable-component-update --disable-sync
  --disable-extensions --disable-dev-shm-usage --mute-audio --hide-scrollbars
  --host-resolver-rules="MAP * ~NOTFOUND"
  --user-data-dir="$work/profile"
  --virtual-time-budget=10000
)

# dump_dom URL OUT: the DOM after the page loaded and its scripts ran. A headless browser
# occasionally fails to start on a busy machine: try twice.
dump_dom() {
  for _ in 1 2; do
    if timeout 120 "$chromium" "${flags[@]}" --dump-dom "$1" >"$2" 2>"$work/chromium.log" &&
      [[ -s $2 ]]; then
      return 0
    fi
    sleep 2
  done
  echo "FAIL: chromium dumped no DOM for $1; its log:"
  tail -n 30 "$work/chromium.log"
  exit 1
}

# First make sure the check can fail: a copy of the page with a broken image, an image from the
# network, an empty SVG and a script error must be reported.
sed 's|</main>|<img src="data:image/png;base64,AAAA"><img src="https://example.invalid/x.png"><svg width="0" height="0"></svg><script>no_such_function();</script></main>|' \
  "$work/report/index.html" >"$work/report/broken.html"
dump_dom "file://$work/report/broken.html" "$work/broken.html"
broken=$(grep -o 'data-check="[^"]*"' "$work/broken.html" | head -n 1 || true)
for want in 'not decoded' 'is 0x0' 'no_such_function'; do
  if [[ $broken != *"$want"* ]]; then
    echo "FAIL: the page's self-check missed '$want' in a broken page; it says: ${broken:-nothing}"
    exit 1
  fi
done

dump_dom "$page" "$work/dom.html"

check=$(grep -o 'data-check="[^"]*"' "$work/dom.html" | head -n 1 || true)
counts=$(grep -o 'data-images="[0-9]*" data-svgs="[0-9]*"' "$work/dom.html" | head -n 1 || true)
if [[ $check != 'data-check="ok"' ]]; then
  echo "FAIL: the page's self-check says: ${check:-nothing (the check script did not run)}"
  tail -n 30 "$work/chromium.log"
  exit 1
fi
if [[ ! $counts =~ data-images=\"([0-9]+)\"\ data-svgs=\"([0-9]+)\" ]] ||
  ((BASH_REMATCH[1] == 0 || BASH_REMATCH[2] == 0)); then
  echo "FAIL: expected images and plots in the page, found: ${counts:-none}"
  exit 1
fi

if [[ -n ${EMBER_VIZ_SCREENSHOT:-} ]]; then
  timeout 120 "$chromium" "${flags[@]}" --window-size=1000,6000 \
    --screenshot="$EMBER_VIZ_SCREENSHOT" "$page" >/dev/null 2>>"$work/chromium.log" || true
fi
echo "PASS: report loads; $counts all drawn"
