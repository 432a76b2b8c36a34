using System.Net;
using CucmSim.Serve;
using CucmSim.Serve.Sccp;
using CucmSim.Tests.Infrastructure;

namespace CucmSim.Tests.Sccp;

/// <summary>Starts the host with the SCCP listeners and a small RTP pool of its own.</summary>
internal static class SccpTestHost
{
    private static int s_block;

    /// <summary>
    /// A profile extending "cucm" whose media range is a block of 16 ports no other SCCP test uses, above the
    /// kernel's ephemeral range and away from the 16384-32767 media ranges that benchmarks bind.
    /// </summary>
    public static string Profile()
    {
        var low = 61200 + (((Environment.ProcessId * 7) + Interlocked.Increment(ref s_block)) % 250 * 16);
        return SimHost.WriteProfile($$"""{ "name": "sccp-test", "extends": "cucm", "rtp": { "cucm": "{{low}}-{{low + 15}}" } }""");
    }

    public static Task<SimServer> StartAsync(SccpOptions? sccp = null, bool media = true, CertificateOptions? certificates = null, TimeProvider? time = null, IPAddress? bind = null) =>
        SimHost.StartAsync(new ServeOptions
        {
            Bind = bind is null ? [] : [bind],
            Profile = Profile(),
            Only = media ? ["t6.sccp", "t6.sccp-tls", "t6.rtp-to-cucm"] : ["t6.sccp", "t6.sccp-tls"],
            EphemeralPorts = true,
            Sccp = sccp ?? new SccpOptions(),
            Certificates = certificates ?? new CertificateOptions(),
            Time = time,
        });

    public static IPEndPoint Sccp(this SimServer server) => server.EndPoint("tcp/2000");

    public static IPEndPoint SccpTls(this SimServer server) => server.EndPoint("tcp/2443");
}
