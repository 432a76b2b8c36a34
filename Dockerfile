# Build on the build machine's architecture, publish for the target's.
FROM --platform=$BUILDPLATFORM mcr.microsoft.com/dotnet/sdk:10.0 AS build
ARG TARGETARCH
WORKDIR /src
# Restore inputs first: the restore layer stays cached until a project or props file changes.
COPY CucmSim.sln global.json Directory.Build.props Directory.Packages.props .editorconfig ./
COPY src/CucmSim.Protocols/CucmSim.Protocols.csproj src/CucmSim.Protocols/
COPY src/CucmSim.Clients/CucmSim.Clients.csproj src/CucmSim.Clients/
COPY src/CucmSim/CucmSim.csproj src/CucmSim/
RUN dotnet restore src/CucmSim -a $TARGETARCH
COPY src/ src/
COPY profiles/ profiles/
RUN dotnet publish src/CucmSim -c Release -a $TARGETARCH --no-restore -o /app

FROM mcr.microsoft.com/dotnet/aspnet:10.0
WORKDIR /app
COPY --from=build /app ./
# Profiles are embedded in the binary; state (certificates) and the ledger go to /var/lib/cucmsim.
WORKDIR /var/lib/cucmsim
EXPOSE 9900/tcp
ENTRYPOINT ["/app/cucmsim"]
CMD ["serve", "--control", "0.0.0.0:9900"]
