#!/usr/bin/env bash
# Builds the image from the Dockerfile and runs it, on a machine where no registry can be reached: dockerd is started
# by hand (no bridge, no iptables, host networking), the base images are made locally (debootstrap, the host's .NET
# copied in, docker import) and passed as build arguments. Then: the image runs as a non-root user, binds a port
# under 1024, turns healthy, answers the probe, keeps its ledger in the volume; the compose file is valid.
# Everything it starts is stopped and removed on exit. Needs root (./test.sh runs it when Docker is installable).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)

if [ "$(id -u)" -ne 0 ]; then
  echo "container: skipped (needs root)" >&2
  exit 0
fi

need=()
for p in docker.io debootstrap docker-compose; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "container: installing ${need[*]}" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

work=$(mktemp -d /tmp/cucmsim-container.XXXXXX)
export DOCKER_HOST="unix://$work/docker.sock"
docker=/usr/bin/docker
name="cucmsim-test-$$"
dockerd_pid=""
cleanup() {
  set +e
  $docker rm -f "$name" >/dev/null 2>&1
  $docker volume rm -f "$name-state" >/dev/null 2>&1
  if [ -n "$dockerd_pid" ]; then
    kill "$dockerd_pid" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$dockerd_pid" 2>/dev/null
  fi
  # dockerd's data root holds overlay mounts; unmount before removing.
  grep -o " $work[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

step() { printf 'container: %s (%ss)\n' "$1" "$SECONDS" >&2; }

step "starting dockerd"
/usr/sbin/dockerd --bridge=none --iptables=false --ip6tables=false --data-root "$work/data" --exec-root "$work/exec" \
  --pidfile "$work/docker.pid" -H "$DOCKER_HOST" >"$work/dockerd.log" 2>&1 &
dockerd_pid=$!
for _ in $(seq 1 300); do $docker version >/dev/null 2>&1 && break; sleep 0.1; done
$docker version --format 'container: dockerd {{.Server.Version}}' >&2

step "making the base images (debootstrap, the host's .NET)"
rootfs="$work/rootfs"
debootstrap --variant=minbase --include=ca-certificates,libicu72,libssl3,libcap2-bin,curl,passwd \
  bookworm "$rootfs" http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 || { tail -20 "$work/debootstrap.log"; exit 1; }
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
dotnet_root=$(dirname "$(readlink -f "$(command -v dotnet)")")
mkdir -p "$rootfs/usr/share/dotnet"
cp -a "$dotnet_root/dotnet" "$dotnet_root/host" "$rootfs/usr/share/dotnet/"
mkdir -p "$rootfs/usr/share/dotnet/shared"
cp -a "$dotnet_root/shared/Microsoft.NETCore.App" "$dotnet_root/shared/Microsoft.AspNetCore.App" "$rootfs/usr/share/dotnet/shared/"
ln -sf /usr/share/dotnet/dotnet "$rootfs/usr/bin/dotnet"
tar -C "$rootfs" -c . | $docker import -c 'ENV DOTNET_RUNNING_IN_CONTAINER=true' - cucmsim-local/aspnet:10.0 >/dev/null
cp -a "$dotnet_root/sdk" "$dotnet_root/packs" "$dotnet_root/sdk-manifests" "$dotnet_root/templates" "$rootfs/usr/share/dotnet/" 2>/dev/null || true
# The machine's own certificate authorities (a registry behind a proxy of this network) and NuGet configuration, for
# the restore inside the build; the runtime image has neither.
if ls /usr/local/share/ca-certificates/*.crt >/dev/null 2>&1; then
  cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
  chroot "$rootfs" update-ca-certificates >/dev/null 2>&1
fi
mkdir -p "$rootfs/root/.nuget/NuGet"
[ -f "$HOME/.nuget/NuGet/NuGet.Config" ] && cp "$HOME/.nuget/NuGet/NuGet.Config" "$rootfs/root/.nuget/NuGet/"
tar -C "$rootfs" -c . | $docker import -c 'ENV DOTNET_RUNNING_IN_CONTAINER=true' -c 'ENV DOTNET_CLI_TELEMETRY_OPTOUT=1' - cucmsim-local/sdk:10.0 >/dev/null
rm -rf "$rootfs"

step "docker build"
DOCKER_BUILDKIT=1 $docker build --network host --progress plain \
  --build-arg SDK_IMAGE=cucmsim-local/sdk:10.0 --build-arg RUNTIME_IMAGE=cucmsim-local/aspnet:10.0 \
  -t cucmsim:test "$root" >"$work/build.log" 2>&1 || { tail -40 "$work/build.log"; exit 1; }

step "docker run (host network)"
# Only TFTP and SCCP: port 69 proves the capability to bind under 1024 as a non-root user.
$docker run -d --name "$name" --network host -v "$name-state:/var/lib/cucmsim" cucmsim:test \
  serve --control 127.0.0.1:9900 --state-dir /var/lib/cucmsim/state --ledger /var/lib/cucmsim/ledger.jsonl --only t6.tftp,t6.sccp >/dev/null
for _ in $(seq 1 600); do
  health=$($docker inspect -f '{{.State.Health.Status}}' "$name")
  [ "$health" = healthy ] && break
  [ "$($docker inspect -f '{{.State.Running}}' "$name")" = true ] || { $docker logs "$name"; echo "container: exited" >&2; exit 1; }
  sleep 0.1
done
[ "$health" = healthy ] || { $docker logs "$name"; echo "container: not healthy: $health" >&2; exit 1; }
uid=$($docker exec "$name" id -u)
[ "$uid" != 0 ] || { echo "container: runs as root" >&2; exit 1; }
echo "container: healthy, running as uid $uid" >&2

step "probe against the container"
cucmsim=(dotnet "$root/src/CucmSim/bin/Release/net10.0/cucmsim.dll")
"${cucmsim[@]}" probe 127.0.0.1 --only t6.tftp,t6.sccp --control http://127.0.0.1:9900 --timeout 2 --json "$work/probe.json" >"$work/probe.txt" 2>&1 \
  || { cat "$work/probe.txt"; exit 1; }
grep -q '"verdict": *"allowed"' "$work/probe.json" || { cat "$work/probe.txt"; exit 1; }

step "SIGTERM flushes the ledger into the volume"
$docker stop -t 20 "$name" >/dev/null
ledger=$($docker run --rm -v "$name-state:/v" --entrypoint /bin/sh cucmsim:test -c 'wc -l < /v/ledger.jsonl')
[ "$ledger" -gt 0 ] || { echo "container: the ledger in the volume is empty" >&2; exit 1; }
echo "container: $ledger ledger records in the volume" >&2

step "compose file"
docker-compose -f deploy/compose/docker-compose.yml config -q

step "done"
