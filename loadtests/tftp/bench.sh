#!/bin/bash
# TFTP and HTTP provisioning benchmarks: cucmsim side by side with tftpd-hpa and atftpd (TFTP) and nginx (HTTP),
# same session, loopback only, every load bounded (../shared/bench scripts). Run from the repository root,
# under the shared lock:  flock /tmp/cucmsim-build.lock loadtests/tftp/bench.sh [REPS] [small|large|storm|http ...]
# Output: one "LABEL<TAB>RESULT ..." line per run in $OUT (default loadtests/tftp/results/<stamp>.tsv) and medians.
# SIM_ARGS adds options to cucmsim serve (e.g. SIM_ARGS=--tftp-gso).
set -euo pipefail
REPO="$(cd "$(dirname "$0")/../.." && pwd)"
BENCH=${BENCH:-$REPO/../shared/bench}
REPS=${1:-3}; shift || true
WHAT=${*:-small large storm http}
export RUNDIR=${RUNDIR:-/tmp/bench-run-tftp} FIXTURES=${FIXTURES:-/tmp/bench-tftp}
OFFSET=33000; CONTROL=127.0.0.1:33900
CUCMSIM=${CUCMSIM_BIN:-$REPO/src/CucmSim/bin/Release/net10.0/cucmsim}
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$REPO/loadtests/tftp/results" "$RUNDIR"
OUT=${OUT:-$REPO/loadtests/tftp/results/$STAMP.tsv}
PIDS=()

cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do for i in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done; done
}
trap cleanup EXIT

python3 "$BENCH/lib/mkfixtures.py" "$FIXTURES" >/dev/null
[ -x "$CUCMSIM" ] || { echo "build first: dotnet build -c Release src/CucmSim" >&2; exit 1; }

# Peers from Debian on a fresh machine. atftpd conflicts with tftpd-hpa as a package, so it is unpacked beside it.
missing=(); for p in tftpd-hpa nginx-light wrk; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p"); done
[ ${#missing[@]} -eq 0 ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
if ! command -v atftpd >/dev/null && [ ! -x /tmp/atftpd-pkg/root/usr/sbin/atftpd ]; then
  mkdir -p /tmp/atftpd-pkg && (cd /tmp/atftpd-pkg && apt-get download -qq atftpd >/dev/null && dpkg -x atftpd_*.deb root)
fi
# Servers, each in its own cpuacct group so server CPU is measured (children included).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
"$BENCH/lib/incgroup.sh" cucmsim-tftp "$CUCMSIM" serve --bind 127.0.0.1 --port-offset $OFFSET --control $CONTROL \
  --only t2.tftp,t6.tftp-http --tftp-root "$FIXTURES" --ledger none --log-level warning ${SIM_ARGS:-} >"$RUNDIR/cucmsim.log" 2>&1 &
SIM=$!; PIDS+=($SIM)
"$BENCH/lib/incgroup.sh" tftpd in.tftpd -L -a 127.0.0.1:10069 -s "$FIXTURES" -u tftp >"$RUNDIR/tftpd.log" 2>&1 &
HPA=$!; PIDS+=($HPA)
ATFTPD_BIN=${ATFTPD_BIN:-$(command -v atftpd || echo /tmp/atftpd-pkg/root/usr/sbin/atftpd)}
"$BENCH/lib/incgroup.sh" atftpd "$ATFTPD_BIN" --daemon --no-fork --port 10070 --bind-address 127.0.0.1 --logfile /dev/null --user nobody --group nogroup "$FIXTURES" &
ATFTPD=$!; PIDS+=($ATFTPD)
for i in $(seq 1 100); do curl -sf "http://$CONTROL/healthz" >/dev/null && break; sleep 0.1; done
curl -sf "http://$CONTROL/healthz" >/dev/null || { echo "cucmsim did not start; see $RUNDIR/cucmsim.log" >&2; exit 1; }

run() { # LABEL script args...
  local label=$1; shift
  local line; line=$("$@" | grep '^RESULT' | tail -1)
  printf '%s\t%s\n' "$label" "$line" | tee -a "$OUT"
}

SIMT=127.0.0.1:$((69 + OFFSET))

# Warm-up, not recorded: the same short load on every server (cucmsim compiles its hot paths on first use).
for t in $SIMT 127.0.0.1:10069 127.0.0.1:10070; do
  "$BENCH/tftp-small.sh" --target $t --total 1000 --concurrency 32 --no-verify-client --max-seconds 30 >/dev/null 2>&1 || true
  "$BENCH/tftp-large.sh" --target $t --total 2 --concurrency 2 --blksize 1428 --windowsize 16 --no-verify-client --max-seconds 30 >/dev/null 2>&1 || true
done
for rep in $(seq 1 "$REPS"); do
  for w in $WHAT; do
    case $w in
      small)
        run "small cucmsim" "$BENCH/tftp-small.sh" --target $SIMT --total 2000 --concurrency 32 --server-pid $SIM
        run "small tftpd-hpa" "$BENCH/tftp-small.sh" --target 127.0.0.1:10069 --total 2000 --concurrency 32 --server-pid $HPA
        run "small atftpd" "$BENCH/tftp-small.sh" --target 127.0.0.1:10070 --total 2000 --concurrency 32 --server-pid $ATFTPD
        ;;
      large)
        for opts in "--blksize 0 --no-verify-client" "--blksize 1428 --windowsize 16 --tsize --no-verify-client"; do
          tag=$([ "${opts%% --no*}" = "--blksize 0" ] && echo "no-options" || echo "blksize1428-w16")
          run "large $tag cucmsim" "$BENCH/tftp-large.sh" --target $SIMT --total 8 --concurrency 4 $opts --server-pid $SIM
          run "large $tag tftpd-hpa" "$BENCH/tftp-large.sh" --target 127.0.0.1:10069 --total 8 --concurrency 4 $opts --server-pid $HPA
          run "large $tag atftpd" "$BENCH/tftp-large.sh" --target 127.0.0.1:10070 --total 8 --concurrency 4 $opts --server-pid $ATFTPD
        done
        ;;
      storm)
        # 10,000 phones at 64 at once, each fetching a generated SEP<MAC>.cnf.xml (made per request: it names the requester).
        run "storm cucmsim" "$BENCH/tftp-small.sh" --target $SIMT --file SEPAABBCCDDEEFF.cnf.xml --total 10000 --concurrency 64 --no-verify-client --server-pid $SIM
        ;;
      http)
        if [ -z "${NGINX:-}" ]; then
          NGINX=$("$BENCH/peers/start-peer.sh" nginx-http); PIDS+=($NGINX)
        fi
        run "http cucmsim" "$BENCH/http-small.sh" --target 127.0.0.1:$((6970 + OFFSET)) --path /index-4k.html --connections 64 --threads 1 --duration 10 --server-pid $SIM
        run "http nginx" "$BENCH/http-small.sh" --target 127.0.0.1:18080 --path /index-4k.html --connections 64 --threads 1 --duration 10 --server-pid $NGINX
        ;;
    esac
  done
done
echo "results: $OUT" >&2
python3 "$BENCH/lib/summarize.py" "$OUT" || true
# Side by side: in every repetition, cucmsim against the faster peer of that same repetition (machines are
# noisy; the ratio of neighbours is steadier than either figure). The median of those ratios is the result.
python3 - "$OUT" <<'PY' || true
import re, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    if "\tRESULT " not in line:
        continue
    label, res = line.rstrip("\n").split("\t", 1)
    kv = dict(x.split("=", 1) for x in res.split()[1:] if "=" in x)
    workload, server = label.rsplit(" ", 1)
    metric = "MBps" if workload.startswith("large") else "rate"
    m = re.match(r"[0-9.]+", kv.get(metric, ""))
    value = float(m.group(0)) if m else 0.0
    runs.setdefault(workload, {}).setdefault(server, []).append(value)
print("\n| workload | cucmsim / faster peer, per repetition | median |\n|---|---|---|")
for workload, servers in runs.items():
    sim = servers.get("cucmsim", [])
    peers = [v for k, v in servers.items() if k != "cucmsim"]
    if not sim or not peers:
        continue
    ratios = [s / max(p[i] for p in peers) for i, s in enumerate(sim) if all(i < len(p) for p in peers) and max(p[i] for p in peers) > 0]
    if ratios:
        print(f"| {workload} | {' '.join(f'{r:.2f}' for r in ratios)} | {statistics.median(ratios):.2f} |")
PY
