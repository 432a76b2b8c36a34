using System.Text.Json;
using CucmSim.Probe;
using CucmSim.Tests.Infrastructure;

namespace CucmSim.Tests.Probe;

/// <summary>One probe run in this process: exit code, what it printed, and its JSON report read back.</summary>
public sealed record ProbeRun(int ExitCode, string Output, string Errors, ProbeReport? Report)
{
    public FlowResult Flow(string id) => Report!.Flows.Single(f => f.Id == id);

    public override string ToString() => $"exit {ExitCode}\n{Output}\n{Errors}";

    public static async Task<ProbeRun> InProcessAsync(params string[] args)
    {
        var json = Path.Combine(Path.GetTempPath(), $"cucmsim-probe-{Guid.NewGuid():N}.json");
        var output = new StringWriter();
        var errors = new StringWriter();
        var exit = await ProbeCommand.RunAsync([.. args, "--json", json], output, errors).DefaultTimeout();
        return new ProbeRun(exit, output.ToString(), errors.ToString(), File.Exists(json) ? ProbeReport.FromJson(await File.ReadAllTextAsync(json)) : null);
    }

    /// <summary>Runs the real executable inside a network namespace and reads its JSON report.</summary>
    public static async Task<ProbeRun> InNamespaceAsync(string ns, TimeSpan timeout, params string[] args)
    {
        var json = Path.Combine(Path.GetTempPath(), $"cucmsim-probe-{Guid.NewGuid():N}.json");
        var result = await ExternalTool.RunAsync("ip", ["netns", "exec", ns, "dotnet", CucmSimProcess.DllPath, "probe", .. args, "--json", json], timeout);
        return new ProbeRun(result.ExitCode, result.Stdout, result.Stderr, File.Exists(json) ? ProbeReport.FromJson(await File.ReadAllTextAsync(json)) : null);
    }

    public static JsonDocument ReadJson(string path) => JsonDocument.Parse(File.ReadAllText(path));
}
