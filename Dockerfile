# cucmsim in a container. The base images are build arguments: the public .NET images by default, or images
# made locally where no registry can be reached (tests/container/run.sh makes them with debootstrap).
#   docker build -t cucmsim .
#   docker run -d --network host -v cucmsim-state:/var/lib/cucmsim cucmsim
ARG SDK_IMAGE=mcr.microsoft.com/dotnet/sdk:10.0
ARG RUNTIME_IMAGE=mcr.microsoft.com/dotnet/aspnet:10.0

# Build on the build machine's architecture, publish for the target's.
FROM --platform=$BUILDPLATFORM ${SDK_IMAGE} AS build
ARG TARGETARCH
WORKDIR /src
# Restore inputs first: the restore layer stays cached until a project or props file changes.
COPY CucmSim.sln global.json Directory.Build.props Directory.Packages.props .editorconfig ./
COPY src/CucmSim.Protocols/CucmSim.Protocols.csproj src/CucmSim.Protocols/
COPY src/CucmSim.Clients/CucmSim.Clients.csproj src/CucmSim.Clients/
COPY src/CucmSim/CucmSim.csproj src/CucmSim/
RUN dotnet restore src/CucmSim -a ${TARGETARCH:-amd64}
COPY src/ src/
COPY profiles/ profiles/
RUN dotnet publish src/CucmSim -c Release -a ${TARGETARCH:-amd64} --no-restore -o /app

FROM ${RUNTIME_IMAGE}
# A user of its own; the binary may bind the profile's ports under 1024 (TFTP 69, HTTP 80, SNMP 161, ...) without
# being root. setcap comes from libcap2-bin where the base image lacks it; ip (iproute2) adds a load shard's source
# addresses in deploy/k8s/load's init container.
RUN set -e; \
    if ! command -v setcap >/dev/null; then apt-get update -qq && apt-get install -y -qq --no-install-recommends libcap2-bin && rm -rf /var/lib/apt/lists/*; fi; \
    if ! command -v curl >/dev/null; then apt-get update -qq && apt-get install -y -qq --no-install-recommends curl && rm -rf /var/lib/apt/lists/*; fi; \
    if ! command -v ip >/dev/null; then apt-get update -qq && apt-get install -y -qq --no-install-recommends iproute2 && rm -rf /var/lib/apt/lists/*; fi; \
    groupadd --system --gid 10001 cucmsim; \
    useradd --system --uid 10001 --gid cucmsim --home-dir /var/lib/cucmsim --shell /usr/sbin/nologin cucmsim; \
    mkdir -p /var/lib/cucmsim; chown cucmsim:cucmsim /var/lib/cucmsim
WORKDIR /app
COPY --from=build /app ./
RUN setcap cap_net_bind_service=+ep /app/cucmsim
# Profiles are embedded in the binary; state (certificates, the SSH host key) and the ledger go to the volume.
VOLUME /var/lib/cucmsim
WORKDIR /var/lib/cucmsim
USER cucmsim
EXPOSE 9900/tcp
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 CMD ["curl", "-fsS", "http://127.0.0.1:9900/healthz"]
ENTRYPOINT ["/app/cucmsim"]
CMD ["serve", "--control", "0.0.0.0:9900", "--state-dir", "/var/lib/cucmsim/state", "--ledger", "/var/lib/cucmsim/ledger.jsonl"]
