using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace CucmSim.Load;

/// <summary>
/// <c>cucmsim load sources</c>: the source addresses a shard's phones send from, and the commands that put them on an
/// interface. Shards of a plan with at least as many sources as shards own whole sources: no address is in two shards.
/// </summary>
internal static class ShardSources
{
    /// <summary>The sources of <paramref name="shard"/>'s phones, in order, each once.</summary>
    public static IReadOnlyList<IPAddress> Of(LoadPlan plan, ShardSpec shard)
    {
        var (start, end) = shard.Phones(plan);
        var result = new List<IPAddress>();
        for (var i = start; i < end; i++)
        {
            if (plan.SourceOf(i) is { } source && (result.Count == 0 || !result[^1].Equals(source)))
            {
                result.Add(source);
            }
        }

        return result;
    }

    /// <summary>127.0.0.0/8 and ::1 are this host's already: nothing to add.</summary>
    public static bool IsLocalAlready(IPAddress address) => IPAddress.IsLoopback(address);

    /// <summary>The command that puts <paramref name="address"/> on <paramref name="device"/>, or keeps it there.</summary>
    public static string Command(IPAddress address, string device, string verb = "add") =>
        $"ip {(address.AddressFamily == AddressFamily.InterNetworkV6 ? "-6 " : "")}addr {verb} {address}/{(address.AddressFamily == AddressFamily.InterNetworkV6 ? 128 : 32)} dev {device}";

    /// <summary>
    /// Writes what <paramref name="shard"/> needs: a heading, the addresses, and the commands to add them; with
    /// <paramref name="commandsOnly"/>, a script of 'ip addr <paramref name="verb"/>' lines alone (replace keeps an address
    /// already there; del removes it).
    /// </summary>
    public static void Write(TextWriter output, LoadPlan plan, ShardSpec shard, string device, bool commandsOnly, string verb = "replace")
    {
        var sources = Of(plan, shard);
        var (start, end) = shard.Phones(plan);
        var toAdd = sources.Where(s => !IsLocalAlready(s)).ToList();
        if (commandsOnly)
        {
            foreach (var address in toAdd)
            {
                output.WriteLine(Command(address, device, verb));
            }

            return;
        }

        var phones = end - start;
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"# shard {shard}: phones {start}..{end - 1} ({phones}), {sources.Count} source address{(sources.Count == 1 ? "" : "es")}"));
        if (sources.Count == 0)
        {
            output.WriteLine("# the plan names no --sources: the system chooses each phone's source address");
            return;
        }

        foreach (var address in sources)
        {
            output.WriteLine(address);
        }

        if (toAdd.Count == 0)
        {
            output.WriteLine("# all on the loopback network: nothing to add");
            return;
        }

        output.WriteLine($"# add them to {device} (as root; 'replace' instead of 'add' keeps an address already there):");
        foreach (var address in toAdd)
        {
            output.WriteLine(Command(address, device));
        }
    }
}
