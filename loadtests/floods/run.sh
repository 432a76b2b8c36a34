#!/usr/bin/env bash
# Floods and slow clients against one CucmSim on loopback, a legitimate client measured throughout
# (docs/security.md, "Floods and slow clients"; PERFORMANCE.md, "Floods"). Run under the shared lock:
#   flock /tmp/cucmsim-build.lock loadtests/floods/run.sh [SCENARIO...]
# Scenarios: garbage (datagrams of random bytes at SIP, SNMP, TFTP and the RTP pool), peers (100,000 distinct
# UDP sources), idle (15,000 idle TCP connections on SCCP), slowloris (headers a byte a second on HTTP and
# SIP over TCP). Environment: RATE (garbage datagrams/s, 100000), DURATION (garbage, s, 30), IDLE (15000),
# PEERS (100000), SLOW (connections, 200). Output: one line per measurement on stdout, progress on stderr.
# Ports: --port-offset 41000, control API 127.0.0.1:41900.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"; root="$(cd "$here/../.." && pwd)"
RATE=${RATE:-100000}; DURATION=${DURATION:-30}; IDLE=${IDLE:-15000}; PEERS=${PEERS:-100000}; SLOW=${SLOW:-200}
OFFSET=41000; CONTROL=127.0.0.1:41900
work=$(mktemp -d /tmp/cucmsim-floods.XXXXXX)
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
ulimit -n "$(ulimit -Hn)"
gcc -O2 -Wall -Wextra -o "$work/flood" "$here/flood.c"
[ -x "$root/src/CucmSim/bin/Release/net10.0/cucmsim" ] || dotnet build "$root/src/CucmSim" -c Release -v q -nologo >&2
cucmsim="$root/src/CucmSim/bin/Release/net10.0/cucmsim"
cat >"$work/profile.json" <<'JSON'
{ "name": "floods", "extends": "cucm", "select": { "protocols": ["sip", "snmp", "tftp", "sccp", "rtp", "http"] }, "rtp": { "cucm": "20000-20007" } }
JSON

pid=
start_server() {
  "$cucmsim" serve --profile "$work/profile.json" --bind 127.0.0.1 --port-offset $OFFSET --control $CONTROL \
    --ledger "$work/ledger.jsonl" --state-dir "$work/state" --log-level warning "$@" >"$work/serve.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 150); do grep -q '^ready' "$work/serve.log" 2>/dev/null && break; sleep 0.1; done
  grep -q '^ready' "$work/serve.log" || { cat "$work/serve.log" >&2; exit 1; }
}
stop_server() { [ -n "$pid" ] && kill -TERM "$pid" && wait "$pid" || true; pid=; }
trap 'stop_server; rm -rf "$work"' EXIT
rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$pid/status"; }
metric() { curl -s "http://$CONTROL/metrics" | awk -v m="$1" -v l="$2" 'index($0, m "{") == 1 && index($0, l) { s += $NF } index($0, m " ") == 1 { s += $NF } END { printf "%d\n", s }'; }
port() { curl -s "http://$CONTROL/api/listeners" | python3 -c "import json,sys; print(next(l['boundPort'] for l in json.load(sys.stdin) if l['id'] == sys.argv[1]))" "$1"; }
listener() { curl -s "http://$CONTROL/api/listeners" | python3 -c "import json,sys; l = next(l for l in json.load(sys.stdin) if l['id'] == sys.argv[1]); print(l[sys.argv[2]])" "$1" "$2"; }

garbage() {
  start_server
  local sip snmp tftp rtp
  sip=$(port udp/5060); snmp=$(port udp/161); tftp=$(port udp/69); rtp=$((20000 + OFFSET))
  local m0 r0 l0 rss0; m0=$(metric cucmsim_malformed_total ""); r0=$(metric cucmsim_rtp_other_packets_total ""); l0=$(metric cucmsim_ledger_records_total ""); rss0=$(rss_kb)
  log "garbage: $RATE datagrams/s for $DURATION s at $sip $snmp $tftp $rtp, legitimate OPTIONS, GET and RRQ at 20/s each"
  "$here/legit.py" sip-udp "$sip" 20 "$DURATION" >"$work/l-sip" & local a=$!
  "$here/legit.py" snmp "$snmp" 20 "$DURATION" >"$work/l-snmp" & local b=$!
  "$here/legit.py" tftp "$tftp" 20 "$DURATION" >"$work/l-tftp" & local c=$!
  "$work/flood" garbage "$RATE" "$DURATION" "$sip" "$snmp" "$tftp" "$rtp" >"$work/sent"
  wait $a $b $c
  sleep 2
  kill -0 "$pid" || { echo "garbage: the server died" ; exit 1; }
  local per; per=$(for id in udp/5060 udp/161 udp/69; do echo "$id datagrams $(listener $id datagrams) malformed $(listener $id malformed)"; done)
  echo "garbage sent: $(tr '\n' ' ' <"$work/sent")"
  echo "garbage server: $(echo "$per" | tr '\n' ';') rtp_other $(( $(metric cucmsim_rtp_other_packets_total "") - r0 )) malformed_total $(( $(metric cucmsim_malformed_total "") - m0 ))"
  echo "garbage ledger: records $(( $(metric cucmsim_ledger_records_total "") - l0 )) in the run; rss_kb before $rss0 after $(rss_kb)"
  cat "$work/l-sip" "$work/l-snmp" "$work/l-tftp" | sed 's/^/garbage legit: /'
  stop_server
}

peers() {
  start_server
  local sip rss0 l0; sip=$(port udp/5060); rss0=$(rss_kb); l0=$(metric cucmsim_ledger_records_total "")
  log "peers: $PEERS distinct sources at $sip"
  "$here/legit.py" sip-udp "$sip" 20 20 >"$work/l-sip" & local a=$!
  "$work/flood" peers "$PEERS" "$sip" >"$work/peers"
  sleep 2
  echo "peers: $(cat "$work/peers") datagrams $(listener udp/5060 datagrams) flows_created $(listener udp/5060 hits) (limit: ServeLimits.MaxFlowsPerListener) ledger_records $(( $(metric cucmsim_ledger_records_total "") - l0 )) rss_kb before $rss0 after $(rss_kb)"
  wait $a; sed 's/^/peers legit: /' "$work/l-sip"
  stop_server
}

idle() {
  start_server
  local sccp sip rss0; sccp=$(port tcp/2000); sip=$(port udp/5060); rss0=$(rss_kb)
  log "idle: $IDLE idle TCP connections on SCCP $sccp"
  "$work/flood" idle "$IDLE" 60 "$sccp" >"$work/idle" & local f=$!
  for _ in $(seq 1 60); do [ "$(listener tcp/2000 activeConnections)" -ge "$IDLE" ] && break; sleep 1; done
  local rss1 active; rss1=$(rss_kb); active=$(listener tcp/2000 activeConnections)
  "$here/legit.py" sccp "$sccp" 10 20 >"$work/l-sccp" & local a=$!
  "$here/legit.py" sip-udp "$sip" 10 20 >"$work/l-sip"
  wait $a
  echo "idle: active $active rss_kb before $rss0 with $(rss_kb) per_connection_b $(( (rss1 - rss0) * 1024 / (active > 0 ? active : 1) ))"
  sed 's/^/idle legit: /' "$work/l-sccp" "$work/l-sip"
  wait $f; sed 's/^/idle flood: /' "$work/idle"
  stop_server
}

slowloris() {
  start_server --idle-timeout 10
  local sip http; sip=$(port tcp/5060); http=$(port tcp/80)
  log "slowloris: $SLOW connections a byte a second on HTTP $http and SIP $sip, idle timeout 10 s"
  local get=$'GET / HTTP/1.1\r\nHost: cucm\r\nUser-Agent: slow\r\nAccept: */*\r\n\r\n'
  local opt=$'OPTIONS sip:ping@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bK-slow\r\nMax-Forwards: 70\r\nCall-ID: s@1\r\n\r\n'
  "$here/legit.py" http "$http" 5 30 >"$work/l-http" & local a=$!
  "$here/legit.py" sip-tcp "$sip" 5 30 >"$work/l-sip" & local b=$!
  "$work/flood" slow "$SLOW" 1000 40 "$http" "$get" >"$work/s-http" & local c=$!
  "$work/flood" slow "$SLOW" 1000 40 "$sip" "$opt" >"$work/s-sip"
  wait $a $b $c
  echo "slowloris http: $(tail -1 "$work/s-http")"; echo "slowloris sip: $(tail -1 "$work/s-sip")"
  sed 's/^/slowloris legit: /' "$work/l-http" "$work/l-sip"
  stop_server
}

for s in "${@:-garbage peers idle slowloris}"; do for t in $s; do "$t"; done; done
