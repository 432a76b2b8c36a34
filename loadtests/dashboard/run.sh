#!/bin/bash
# Dashboard cost under an echo flood: the RTP pool echoes RTP-like datagrams at a fixed rate (100,000 pps by
# default, ../shared/bench/udp-echo-pps.sh) with no browser, then with Debian's headless Chromium showing the
# dashboard (live event stream, reads of the control API). Compares the echoed rate and the server's CPU per
# packet. Only the RTP pool is served, on its own ports, so nothing else on the host is disturbed.
# Usage: loadtests/dashboard/run.sh [PPS] [SECONDS]
set -euo pipefail
PPS="${1:-100000}"
SECONDS_RUN="${2:-10}"
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BENCH="${BENCH:-$ROOT/../shared/bench}"
SIM="${SIM:-dotnet $ROOT/src/CucmSim/bin/Release/net10.0/cucmsim.dll}"
OUT="$ROOT/loadtests/results/$(date -u +%Y%m%d-%H%M%S)-dashboard"
mkdir -p "$OUT"
CONTROL=127.0.0.1:19900

$SIM serve --only rtp --control "$CONTROL" --ledger none --log-level warning --state-dir "$OUT/state" > "$OUT/sim.log" 2>&1 &
SIM_PID=$!
BROWSER_PID=
cleanup() {
  [ -n "$BROWSER_PID" ] && kill "$BROWSER_PID" 2>/dev/null || true
  kill -TERM "$SIM_PID" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 100); do curl -fs "http://$CONTROL/healthz" > /dev/null && break; sleep 0.1; done

flood() { "$BENCH/udp-echo-pps.sh" --target 127.0.0.1:24576 --ports 100 --pps "$PPS" --duration "$SECONDS_RUN" --server-pid "$SIM_PID" | tail -1; }

printf 'no-browser\t%s\n' "$(flood)" | tee -a "$OUT/results.tsv"
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
  --disable-component-update --disable-sync --user-data-dir="$OUT/browser" "http://$CONTROL/" > "$OUT/browser.log" 2>&1 &
BROWSER_PID=$!
sleep 3
printf 'browser\t%s\n' "$(flood)" | tee -a "$OUT/results.tsv"
printf 'no-browser-again\t%s\n' "$(flood)" | tee -a "$OUT/results.tsv"
echo "results: $OUT/results.tsv"
