#!/usr/bin/env bash
# The smoke of every fuzzing harness: its corpus (corpus.sh: encodings and golden captures) and a few thousand
# deterministic mutations, in process, without AFL. Seconds; exit 1 on any finding.
# Usage: test.sh [MUTATIONS]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dll="$here/CucmSim.Fuzz/bin/Release/net10.0/cucmsim-fuzz.dll"
[ -f "$dll" ] || dotnet build "$here/CucmSim.Fuzz" -c Release -v quiet -nologo >/dev/null
corpus="$(mktemp -d)"
trap 'rm -rf "$corpus"' EXIT
"$here/corpus.sh" "$corpus" "$dll" >/dev/null
dotnet "$dll" smoke --corpus "$corpus" --mutations "${1:-3000}"
