#!/usr/bin/env bash
# Writes the seed corpus of every harness to DIR/CODEC/: the codecs' own encodings (as the codec tests build
# them, from `cucmsim-fuzz corpus`) and the payloads of the golden captures (tshark). Stream protocols get
# each capture's client-to-server bytes as one seed, so several messages follow each other on one stream.
# Usage: corpus.sh DIR [CUCMSIM_FUZZ_DLL]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${1:?usage: corpus.sh DIR [cucmsim-fuzz.dll]}"
dll="${2:-$here/CucmSim.Fuzz/bin/Release/net10.0/cucmsim-fuzz.dll}"
captures="${CUCMSIM_CAPTURES:-$root/../shared/reference/captures}"
mkdir -p "$out"
dotnet "$dll" corpus "$out"

# Every payload matching FILTER as its own seed (at most LIMIT distinct ones).
datagrams() {
  local pcap="$1" filter="$2" codec="$3" limit="${4:-40}"
  [ -f "$captures/$pcap" ] || return 0
  mkdir -p "$out/$codec"
  tshark -r "$captures/$pcap" -Y "$filter" -T fields -e udp.payload 2>/dev/null | awk -v limit="$limit" 'NF && !seen[$0]++ && n++ < limit' |
    while read -r hex; do
      printf '%s' "$hex" | xxd -r -p > "$out/$codec/capture-${pcap%%.*}-$(printf '%s' "$hex" | sha1sum | cut -c1-12)"
    done
}

# The client-to-server bytes of a capture's stream(s) as one seed (FIELD: tcp.payload, or udp.payload to
# put a capture's datagrams one after another on a stream).
stream() {
  local pcap="$1" filter="$2" codec="$3" field="${4:-tcp.payload}"
  [ -f "$captures/$pcap" ] || return 0
  mkdir -p "$out/$codec"
  tshark -r "$captures/$pcap" -Y "$filter" -T fields -e "$field" 2>/dev/null | tr -d '\n' | xxd -r -p > "$out/$codec/capture-${pcap%%.*}"
  [ -s "$out/$codec/capture-${pcap%%.*}" ] || rm -f "$out/$codec/capture-${pcap%%.*}"
}

datagrams dhcp.pcapng "udp.dstport == 67" dhcp
datagrams h323.pcapng "udp.port == 1719" ras
datagrams ras_nmap.pcapng "udp" ras
stream h323.pcapng "tcp.dstport == 1720" h225
datagrams mgcp.pcapng "udp" mgcp
datagrams rtp.pcapng "udp" rtp 20
stream sccp_0x00.pcapng "tcp.dstport == 2000" sccp
stream sccp_0x11.pcapng "tcp.dstport == 2000" sccp
datagrams sip_reg.pcapng "udp" sip-udp
stream sip_reg.pcapng "udp.dstport == 5060" sip udp.payload
datagrams tftp.pcapng "udp" tftp 40
datagrams trap.pcapng "udp" snmp
for codec in "$out"/*/; do
  printf '%-8s %3d seeds\n' "$(basename "$codec")" "$(find "$codec" -type f | wc -l)"
done
