using System.Net;
using System.Net.Sockets;
using CucmSim.Catalog;
using CucmSim.Serve;
using CucmSim.Tests.Infrastructure;

namespace CucmSim.Tests.Serve;

public sealed class EphemeralPortsTests
{
    [Fact]
    public void The_kernels_range_and_reserved_list_parse_as_the_sysctls_print_them()
    {
        Assert.Equal(new PortRange(32768, 60999), EphemeralPorts.ParseRange("32768\t60999\n"));
        Assert.Equal(new PortRange(1024, 65535), EphemeralPorts.ParseRange("1024 65535"));
        Assert.Equal([new PortRange(8443, 8443), new PortRange(50000, 50004)], EphemeralPorts.ParseReserved("8443,50000-50004\n")!);
        Assert.Empty(EphemeralPorts.ParseReserved("\n")!);
    }

    [Theory]
    [InlineData("")]
    [InlineData("32768")]
    [InlineData("60999 32768")]
    [InlineData("32768 65536")]
    [InlineData("-1 5")]
    [InlineData("1 2 3")]
    [InlineData("0x10 0x20")]
    public void A_range_that_is_not_two_ports_in_order_is_none(string text) => Assert.Null(EphemeralPorts.ParseRange(text));

    [Theory]
    [InlineData("50000-")]
    [InlineData("-5")]
    [InlineData("5-4")]
    [InlineData("70000")]
    [InlineData("1,x")]
    [InlineData("1-2-3")]
    public void A_reserved_list_with_a_part_that_is_not_a_port_is_none(string text) => Assert.Null(EphemeralPorts.ParseReserved(text));

    [Fact]
    public void Truncated_oversized_and_random_texts_give_an_answer_or_none_never_an_exception()
    {
        const string good = "32768\t60999";
        for (var n = 0; n <= good.Length; n++)
        {
            _ = EphemeralPorts.ParseRange(good[..n]);
            _ = EphemeralPorts.ParseReserved("50000-50004,8443"[..Math.Min(n, 16)]);
        }

        Assert.Null(EphemeralPorts.ParseReserved(new string('1', EphemeralPorts.MaxText + 1)));
        Assert.Null(EphemeralPorts.ParseRange(new string(' ', EphemeralPorts.MaxText + 1)));
        var random = new Random(17);
        const string alphabet = "0123456789-, \t\nx";
        for (var i = 0; i < 5000; i++)
        {
            var text = new string(Enumerable.Range(0, random.Next(0, 40)).Select(_ => alphabet[random.Next(alphabet.Length)]).ToArray());
            if (EphemeralPorts.ParseRange(text) is { } range)
            {
                Assert.True(range.Low <= range.High && range.High <= 65535, text);
            }

            if (EphemeralPorts.ParseReserved(text) is { } reserved)
            {
                Assert.All(reserved, r => Assert.True(r.Low <= r.High && r.High <= 65535, text));
            }
        }
    }

    [Fact]
    public void The_warning_names_the_exposed_ports_as_ranges_and_a_sysctl_that_keeps_what_is_reserved()
    {
        var range = new PortRange(32768, 60999);
        Assert.Null(EphemeralPorts.Warning([2000, 5060, 8443, 61000], range, []));
        Assert.Null(EphemeralPorts.Warning([50000, 50001], range, [new PortRange(50000, 50010)]));

        var warning = EphemeralPorts.Warning([2000, 50004, 50000, 50001, 50002, 50003, 54002, 54002], range, [new PortRange(8443, 8443), new PortRange(50003, 50003)]);
        Assert.NotNull(warning);
        Assert.StartsWith("5 listener or media port(s) lie in the kernel's ephemeral range 32768-60999 (50000-50002,50004,54002)", warning, StringComparison.Ordinal);
        Assert.EndsWith("sysctl -w net.ipv4.ip_local_reserved_ports=8443,50000-50004,54002", warning, StringComparison.Ordinal);

        // A media pool shifted into the range: reserving it all would starve outgoing connections, so the offset is named too.
        var pool = EphemeralPorts.Warning(Enumerable.Range(54576, 8192), range, []);
        Assert.StartsWith("6424 listener or media port(s) lie in the kernel's ephemeral range 32768-60999 (54576-60999)", pool, StringComparison.Ordinal);
        Assert.EndsWith("choose a --port-offset that keeps the media out of the range", pool, StringComparison.Ordinal);
    }

    [Fact]
    public void The_host_warning_and_the_bind_fix_follow_this_hosts_range()
    {
        var range = EphemeralPorts.ParseRange(File.ReadAllText(EphemeralPorts.RangeFile))!.Value;
        var reserved = EphemeralPorts.ParseReserved(File.ReadAllText(EphemeralPorts.ReservedFile))!;
        var port = Enumerable.Range(range.Low, range.Count).First(p => p >= 2000 + 1 && !reserved.Any(r => r.Contains(p)));
        Assert.Contains(port.ToString(System.Globalization.CultureInfo.InvariantCulture), EphemeralPorts.WarningForHost([port]), StringComparison.Ordinal);
        Assert.Null(EphemeralPorts.WarningForHost([range.Low - 1]));

        // An address already in use there: the fix says why it may be taken, and how to keep it.
        var (_, fix) = SocketBinder.Explain(SocketError.AddressAlreadyInUse, "tcp", port, "in use");
        Assert.Contains($"the port lies in the ephemeral range {range}", fix, StringComparison.Ordinal);
        Assert.Contains($"ss -tan 'sport = :{port}' -p", fix, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_server_bound_in_the_range_says_so_and_one_on_system_chosen_ports_does_not()
    {
        // SCCP at 2000 + 40000 = 42000: inside the default range (32768-60999) on this host and CI.
        var range = EphemeralPorts.ParseRange(File.ReadAllText(EphemeralPorts.RangeFile))!.Value;
        var reserved = EphemeralPorts.ParseReserved(File.ReadAllText(EphemeralPorts.ReservedFile))!;
        Assert.True(range.Contains(42000) && !reserved.Any(r => r.Contains(42000)), $"this host's range {range} or reserved list does not suit the test");

        var address = UniqueLoopback.Address(207);
        await using (var shifted = await SimServer.StartAsync(new ServeOptions
        {
            Only = ["t6.sccp"],
            PortOffset = 40000,
            Bind = [address],
            NoControl = true,
            StateDirectory = SimHost.TempDirectory(),
        }).DefaultTimeout())
        {
            Assert.True(shifted.Complete);
            Assert.Contains("(42000)", shifted.EphemeralWarning, StringComparison.Ordinal);
        }

        await using var ephemeral = await SimServer.StartAsync(new ServeOptions
        {
            Only = ["t6.sccp"],
            EphemeralPorts = true,
            Bind = [IPAddress.Loopback],
            NoControl = true,
            StateDirectory = SimHost.TempDirectory(),
        }).DefaultTimeout();
        Assert.Null(ephemeral.EphemeralWarning);
    }
}
