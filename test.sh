#!/usr/bin/env bash
# Runs every test of CucmSim. On a fresh Debian machine it first installs what the tests need: the real
# protocol clients from Debian (the tests talk to CucmSim with them) and the NuGet packages (dotnet restore).
set -euo pipefail
cd "$(dirname "$0")"

packages=(sip-tester sipsak afl++ snmp snmpd snmptrapd tftp-hpa atftp curl openssl tshark nmap netcat-openbsd iproute2 nftables libxml2-utils ike-scan iptables conntrack openssh-client zsh ldap-utils busybox chromium chromium-driver)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "test.sh: missing Debian packages: ${missing[*]} (run as root, or install them)" >&2
    exit 1
  fi
  echo "test.sh: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

dotnet restore CucmSim.sln
dotnet build CucmSim.sln -c Release --no-restore -v quiet -nologo
results=$(mktemp -d)
status=0
dotnet test CucmSim.sln -c Release --no-build --results-directory "$results" --logger "trx" \
  --logger "console;verbosity=minimal" -- RunConfiguration.TestSessionTimeout=1500000 || status=$?

# One closing line for the whole run, summed over the test projects.
python3 - "$results" <<'PY'
import glob, sys, xml.etree.ElementTree as ET
passed = failed = skipped = 0
for f in glob.glob(sys.argv[1] + "/*.trx"):
    c = ET.parse(f).getroot().find(".//{*}ResultSummary/{*}Counters")
    passed += int(c.get("passed", 0)); failed += int(c.get("failed", 0)) + int(c.get("error", 0)) + int(c.get("timeout", 0))
    skipped += int(c.get("notExecuted", 0))
print(f"tests: {passed} passed, {failed} failed, {skipped} skipped")
PY

# The container image, built from the Dockerfile and run, where Docker can be installed (root, Debian's docker.io).
if [ "$(id -u)" -eq 0 ] && [ "${CUCMSIM_SKIP_CONTAINER:-0}" != 1 ]; then
  if tests/container/run.sh; then echo "container: passed"; else echo "container: FAILED"; status=1; fi
fi
exit $status
