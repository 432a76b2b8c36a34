using CucmSim.Catalog;

namespace CucmSim.Tests.Catalog;

/// <summary>
/// Holds the embedded profile against an independent transcription of the port guide's listener ports,
/// table by table, both ways: nothing missing, nothing invented.
/// </summary>
public sealed class CatalogueTests
{
    // Written from the guide (../shared/seeds), not from the profile: "port/transport" or "low-high/transport".
    // Where the guide gives 16384-32767 for media to CUCM, its own note says CUCM uses 24576-32767.
    private static readonly Dictionary<int, string[]> Guide = new()
    {
        [1] = ["514/udp", "443/tcp", "1090/tcp", "1099/tcp", "1500/tcp", "1501/tcp", "1510/tcp", "1511/tcp", "1515/tcp", "2552/tcp",
               "2551/tcp", "2555/tcp", "2556/tcp", "4040/tcp", "5001/tcp", "5002/tcp", "5003/tcp", "5004/tcp", "5005/tcp", "5007/tcp",
               "7000/tcp", "7001/tcp", "7002/tcp", "8001/tcp", "8002/tcp", "8003/tcp", "8004/tcp", "8005/tcp", "8080/tcp", "8090/tcp",
               "8500/tcp", "8500/udp", "8888/tcp", "8889/tcp", "9004/tcp", "22/tcp", "8443/tcp"],
        [2] = ["67/udp", "68/udp", "69/udp", "6969/udp", "6970/tcp", "123/udp", "161/udp", "162/udp", "199/tcp", "546/udp", "5546/tcp",
               "5547/tcp", "6161/udp", "6162/udp", "7161/tcp", "7999/tcp", "443/tcp", "8443/tcp", "9050/tcp", "61441/udp", "5060/tcp",
               "5061/tcp", "7501/tcp", "7502/tcp", "22/tcp", "8000-48200/udp", "16384-32766/udp"],
        [3] = ["389/tcp", "636/tcp", "3268/tcp", "3269/tcp"],
        [4] = ["80/tcp", "8080/tcp", "443/tcp", "8443/tcp"],
        [5] = ["80/tcp"],
        [6] = ["53/tcp", "69/udp", "2000/tcp", "2443/tcp", "2445/tcp", "3804/tcp", "5060/tcp", "5060/udp", "5061/tcp", "6970/tcp",
               "6971/tcp", "6972/tcp", "8080/tcp", "9443/tcp", "9444/tcp", "16384-32767/udp", "24576-32767/udp"],
        [7] = ["500/udp", "69/udp", "1024-65535/tcp", "1719/udp", "1720/tcp", "2000/tcp", "2001/tcp", "2002/tcp", "2427/udp", "2428/tcp",
               "4000-4005/tcp", "5060/tcp", "5060/udp", "5061/tcp", "16384-32767/udp", "24576-32767/udp"],
        [8] = ["2444/tcp", "2748/tcp", "2749/tcp", "2789/tcp", "2912/tcp", "1103-1129/tcp", "1101/tcp", "1102/tcp", "3223/udp", "3224/udp",
               "4321/udp", "5050/tcp", "5620/tcp", "8443/tcp"],
        [9] = ["2444/tcp"],
        [10] = ["443/tcp"],
        [11] = ["2301/tcp", "2381/tcp", "50000-50004/tcp", "25375/udp", "25376/udp", "25393/udp"],
    };

    private static readonly Profile Cucm = ProfileLoader.Load("cucm");

    private static HashSet<string> Expand(IEnumerable<string> items)
    {
        var set = new HashSet<string>();
        foreach (var item in items)
        {
            var (ports, transport) = (item.Split('/')[0], item.Split('/')[1]);
            var range = ports.Split('-').Select(int.Parse).ToArray();
            for (var p = range[0]; p <= range[^1]; p++)
            {
                set.Add($"{p}/{transport}");
            }
        }

        return set;
    }

    private static HashSet<string> FromProfile(int table)
    {
        var set = new HashSet<string>();
        foreach (var flow in Cucm.Flows.Where(f => f.Table == table && f.IsBindable))
        {
            foreach (var port in flow.Ports.Ports)
            {
                if (flow.HasTcp)
                {
                    set.Add($"{port}/tcp");
                }

                if (flow.HasUdp)
                {
                    set.Add($"{port}/udp");
                }
            }
        }

        return set;
    }

    [Fact]
    public void Every_table_of_the_guide_is_in_the_profile_both_ways()
    {
        Assert.Equal(Enumerable.Range(1, 11), Cucm.Flows.Select(f => f.Table).Distinct().Order());
        foreach (var (table, items) in Guide)
        {
            var guide = Expand(items);
            var profile = FromProfile(table);
            Assert.True(guide.SetEquals(profile),
                $"table {table}: missing from profile [{string.Join(", ", guide.Except(profile).Take(10))}], " +
                $"not in the guide [{string.Join(", ", profile.Except(guide).Take(10))}]");
        }
    }

    [Fact]
    public void Ip_protocol_rows_and_ephemeral_rows_are_modelled_not_bound()
    {
        var ip = Cucm.Flows.Where(f => f.Transport == Transport.Ip).ToList();
        Assert.Contains(ip, f => f.Table == 2 && f.Protocol == "icmp" && f.Ports.Ports.SequenceEqual([1]) && f.Guide?.Ports == "7");
        Assert.Contains(ip, f => f.Table == 7 && f.Protocol == "ipsec" && f.Ports.Ports.SequenceEqual([47, 50, 51]));

        var ephemeral = Cucm.Flows.Where(f => f.Ports.IsEphemeral).Select(f => f.Id).ToHashSet();
        Assert.Superset(new HashSet<string> { "t1.tcts", "t3.ldap-return", "t7.h225-gk", "t7.h225-gk-rev", "t7.h245", "t7.h245-rev" }, ephemeral);
        Assert.Equal("ephemeral:11000-65535", Cucm.Flows.Single(f => f.Id == "t7.h245-rev").Ports.Text);
        Assert.All(Cucm.Flows.Where(f => f.Protocol == "tftp"), f => Assert.Equal("ephemeral", f.Then));
    }

    [Fact]
    public void Cucm_sends_as_well_as_listens()
    {
        var senders = Cucm.Flows.Where(f => f.From == "cucm" && f.To != "cucm").Select(f => f.To).ToHashSet();
        Assert.Superset(new HashSet<string> { "sftp-server", "ntp-server", "ldap-directory", "snmp-trap-receiver", "dhcp-server", "cssm", "ime-server", "saf-router", "phone", "gateway" }, senders);
    }

    [Fact]
    public void The_cucm_role_binds_107_tcp_19_udp_and_its_media_pool()
    {
        var plan = ListenerPlan.Build(Cucm, "cucm");
        Assert.Equal(107, plan.TcpCount);
        Assert.Equal(19, plan.UdpCount);
        Assert.NotNull(plan.Rtp);
        // 24576-32767 is 8,192 ports; the guide puts the Compaq agents (25375, 25376, 25393/udp) inside it.
        Assert.Equal([25375, 25376, 25393], plan.Rtp!.Yielded);
        Assert.Equal(8192 - 3, plan.Rtp.Count);
        Assert.Equal(24576, plan.Rtp.Ranges[0].Low);
        Assert.Equal(32767, plan.Rtp.Ranges[^1].High);
    }

    [Fact]
    public void The_guides_oddities_stay_visible()
    {
        Assert.Contains("53/TCP", Cucm.Flows.Single(f => f.Id == "t6.dns").Note);
        Assert.NotNull(Cucm.Flows.Single(f => f.Id == "t2.media-asr-isr-g3").Note);
        Assert.Contains("24576-32767", Cucm.Flows.Single(f => f.Id == "t6.rtp-to-cucm").Note);
        Assert.Equal("16384-32767 / UDP", Cucm.Flows.Single(f => f.Id == "t6.rtp-to-cucm").Guide?.Ports);
        Assert.All(Cucm.Flows, f => Assert.False(string.IsNullOrWhiteSpace(f.Purpose)));
    }

    [Fact]
    public void Shared_ports_serve_every_flow_that_names_them()
    {
        var plan = ListenerPlan.Build(Cucm, "cucm");
        var https8443 = plan.Listeners.Single(l => l.Id == "tcp/8443");
        Assert.Equal(["t1.control-center", "t2.uds", "t4.https", "t8.axl"], https8443.Flows.Select(f => f.Id).Order());
        Assert.Equal("sip", plan.Listeners.Single(l => l.Id == "udp/5060").Protocol);
        Assert.Equal("sip-tls", plan.Listeners.Single(l => l.Id == "tcp/5061").Protocol);
    }
}
