using System.Buffers;
using CucmSim.Fuzzing;

namespace CucmSim.Protocols.Tests.Fuzzing;

/// <summary>
/// The smoke of loadtests/fuzz: every harness over its seeds and a few thousand deterministic mutations, in
/// process. A harness that no longer compiles against its codec, throws, hangs or allocates without bound
/// fails here, before a campaign would.
/// </summary>
public sealed class FuzzHarnessSmokeTests
{
    public static TheoryData<string> Codecs() => new(Harnesses.All.Keys);

    [Theory]
    [MemberData(nameof(Codecs))]
    public void The_harness_survives_its_seeds_and_two_thousand_mutations(string codec)
    {
        var result = Smoke.Run(codec, mutations: 2000);

        Assert.True(result.Seeds > 0, $"{codec} has no seed");
        Assert.Equal(result.Seeds + 2000, result.Executions);
        Assert.True(result.Findings.Count == 0, string.Join("\n", result.Findings));
    }

    [Fact]
    public void Every_codec_folder_of_the_protocols_library_has_a_harness()
    {
        // A codec added under src/CucmSim.Protocols without a harness fails here.
        var folders = typeof(CucmSim.Protocols.Sip.SipMessage).Assembly.GetTypes()
            .Select(t => t.Namespace).OfType<string>().Where(n => n.StartsWith("CucmSim.Protocols.", StringComparison.Ordinal))
            .Select(n => n["CucmSim.Protocols.".Length..]).Distinct().Order(StringComparer.Ordinal).ToArray();
        var covered = new Dictionary<string, string[]>(StringComparer.Ordinal)
        {
            ["AdminWeb"] = ["http"], ["Dhcp"] = ["dhcp"], ["Echo"] = ["echo"], ["H323"] = ["ras", "h225"], ["Ike"] = ["ike"], ["Ldap"] = ["ldap"],
            ["Mgcp"] = ["mgcp"], ["Rmi"] = ["rmi"], ["Rtp"] = ["rtp"], ["Sccp"] = ["sccp"], ["Sip"] = ["sip", "sip-udp", "sdp"], ["Snmp"] = ["snmp", "usm"],
            ["Ssh"] = ["ssh"], ["Syslog"] = ["syslog"], ["Tftp"] = ["tftp"],
        };

        Assert.Equal(covered.Keys.Order(StringComparer.Ordinal), folders);
        Assert.All(covered.Values.SelectMany(h => h), h => Assert.True(Harnesses.All.ContainsKey(h), h));
        Assert.Equal(Harnesses.All.Keys.Order(StringComparer.Ordinal), covered.Values.SelectMany(h => h).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void A_stream_harness_sees_its_input_in_several_segments_and_every_byte_once()
    {
        var input = Enumerable.Range(0, 300).Select(i => (byte)i).ToArray();
        var seen = new List<byte>();
        var multiSegment = 0;
        Feed.Stream(input, (ReadOnlySequence<byte> buffer, bool completed, out bool close) =>
        {
            close = false;
            multiSegment += buffer.IsSingleSegment ? 0 : 1;
            // Consume all but the last byte, which must come again in front of the next read.
            var keep = completed ? 0 : 1;
            seen.AddRange(buffer.Slice(0, buffer.Length - keep).ToArray());
            return buffer.GetPosition(buffer.Length - keep);
        });

        Assert.Equal(input, seen);
        Assert.True(multiSegment > 0);
    }
}
