using System.Collections.Concurrent;
using Microsoft.AspNetCore.Http;

namespace CucmSim.Serve.Dashboard;

/// <summary>
/// The dashboard's page, style and script, embedded in the assembly and read on the first request only: with no
/// browser connected the dashboard costs nothing but these few resources' names.
/// </summary>
internal static class DashboardAssets
{
    private static readonly ConcurrentDictionary<string, byte[]> Cache = new(StringComparer.Ordinal);

    public static IResult Serve(string name, string contentType)
    {
        var bytes = Cache.GetOrAdd(name, static n =>
        {
            using var stream = typeof(DashboardAssets).Assembly.GetManifestResourceStream("dashboard/" + n)
                ?? throw new InvalidOperationException($"dashboard/{n} is not embedded");
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            return copy.ToArray();
        });
        return Results.Bytes(bytes, contentType);
    }
}
