using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using CucmSim.Serve;
using CucmSim.Serve.Tftp;
using CucmSim.Tests.Infrastructure;

namespace CucmSim.Tests.Tftp;

/// <summary>Debian's TFTP and HTTP clients against the real host: tftp-hpa, atftp, curl, tshark.</summary>
public sealed class TftpRealClientTests : IAsyncLifetime
{
    private static readonly byte[] Config = Encoding.UTF8.GetBytes(string.Concat(Enumerable.Range(0, 120).Select(i => $"<line n=\"{i}\">phone config line {i}</line>\n")));
    private static readonly byte[] Firmware = TftpServerTests.Pattern(300_000, seed: 1428);
    private readonly string _root = TftpServerTests.Root(("SEP001122334455.cnf.xml", Config), ("firmware/big.bin", Firmware), ("notes.txt", "one\ntwo\r\nthree\n"u8.ToArray()));
    private readonly string _out = SimHost.TempDirectory();
    private SimServer _server = null!;

    /// <summary>
    /// Loopback is shared with other test runs and benchmarks: capture only datagrams that start like
    /// TFTP (opcode 1-6 in the first two payload bytes), so the capture keeps up and misses nothing.
    /// </summary>
    private const string TftpOnly = "udp and host 127.0.0.1 and udp[8] == 0 and udp[9] >= 1 and udp[9] <= 6";

    public async Task InitializeAsync() =>
        _server = await SimHost.StartAsync(new ServeOptions { Only = [.. TftpServerTests.Flows, "t6.phone-services"], EphemeralPorts = true, Tftp = new TftpOptions { Root = _root } });

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private IPEndPoint Tftp => _server.EndPoint("udp/69");

    private string Port(string listener) => _server.EndPoint(listener).Port.ToString(CultureInfo.InvariantCulture);

    private string Out(string name) => Path.Combine(_out, name);

    [Fact]
    public async Task Tftp_hpa_gets_files_in_octet_and_netascii_and_sees_file_not_found()
    {
        var r = await ExternalTool.RunAsync("tftp", ["127.0.0.1", Port("udp/69"), "-m", "octet", "-c", "get", "sep001122334455.CNF.XML", Out("cfg")], TimeSpan.FromSeconds(30)).DefaultTimeout();
        Assert.True(r.ExitCode == 0, r.All);
        Assert.Equal(Config, await File.ReadAllBytesAsync(Out("cfg")));

        r = await ExternalTool.RunAsync("tftp", ["127.0.0.1", Port("udp/6969"), "-m", "netascii", "-c", "get", "notes.txt", Out("notes")], TimeSpan.FromSeconds(30)).DefaultTimeout();
        Assert.True(r.ExitCode == 0, r.All);
        Assert.Equal("one\ntwo\r\nthree\n"u8.ToArray(), await File.ReadAllBytesAsync(Out("notes")));

        r = await ExternalTool.RunAsync("tftp", ["127.0.0.1", Port("udp/69"), "-m", "octet", "-c", "get", "ITLSEP001122334455.tlv", Out("itl")], TimeSpan.FromSeconds(30)).DefaultTimeout();
        Assert.Contains("Error code 1: File not found", r.All, StringComparison.Ordinal);

        var record = await _server.WaitForRecordAsync(x => x.Kind == "provisioning" && x.Detail!["file"] == "notes.txt");
        Assert.Equal("complete", record.Verdict);
        Assert.Equal("netascii", record.Detail!["mode"]);
        Assert.Equal("cucm", record.Role);
        Assert.Contains("t2.tftp", record.Flows!);
    }

    [Theory]
    [InlineData("1428", "8")]
    [InlineData("512", "16")]
    [InlineData("8192", "1")]
    public async Task Atftp_negotiates_blksize_tsize_timeout_and_windowsize(string blksize, string windowsize)
    {
        var local = Out($"atftp-{blksize}-{windowsize}");
        var r = await ExternalTool.RunAsync("atftp", ["--option", $"blksize {blksize}", "--option", "tsize 0", "--option", "timeout 2", "--option", $"windowsize {windowsize}",
            "-g", "-r", "firmware/big.bin", "-l", local, "127.0.0.1", Port("udp/69")], TimeSpan.FromSeconds(60)).DefaultTimeout();
        Assert.True(r.ExitCode == 0, r.All);
        Assert.Equal(Firmware, await File.ReadAllBytesAsync(local));
        var record = await _server.WaitForRecordAsync(x => x.Kind == "provisioning" && x.Verdict == "complete" && x.Detail!["negotiated"].Contains($"blksize={blksize} ", StringComparison.Ordinal));
        Assert.Equal($"blksize={blksize} tsize=300000 timeout=2 windowsize={windowsize}", record.Detail!["negotiated"]);
    }

    [Fact]
    public async Task Curl_tftp_with_and_without_options()
    {
        var url = $"tftp://127.0.0.1:{Port("udp/69")}/firmware/BIG.bin";
        var r = await ExternalTool.RunAsync("curl", ["-sS", "--tftp-no-options", "-o", Out("c1"), url], TimeSpan.FromSeconds(60)).DefaultTimeout();
        Assert.True(r.ExitCode == 0, r.All);
        Assert.Equal(Firmware, await File.ReadAllBytesAsync(Out("c1")));
        r = await ExternalTool.RunAsync("curl", ["-sS", "--tftp-blksize", "1428", "-o", Out("c2"), url], TimeSpan.FromSeconds(60)).DefaultTimeout();
        Assert.True(r.ExitCode == 0, r.All);
        Assert.Equal(Firmware, await File.ReadAllBytesAsync(Out("c2")));
        r = await ExternalTool.RunAsync("curl", ["-sS", "-o", Out("c3"), $"tftp://127.0.0.1:{Port("udp/6969")}/SEP001122334455.cnf.xml"], TimeSpan.FromSeconds(60)).DefaultTimeout();
        Assert.True(r.ExitCode == 0, r.All);
        Assert.Equal(Config, await File.ReadAllBytesAsync(Out("c3")));

        var plain = await _server.WaitForRecordAsync(x => x.Kind == "provisioning" && x.Verdict == "complete" && !x.Detail!.ContainsKey("negotiated"));
        Assert.Equal("300000", plain.Detail!["bytes"]);
        var withOptions = await _server.WaitForRecordAsync(x => x.Kind == "provisioning" && x.Verdict == "complete" && x.Detail!.GetValueOrDefault("negotiated", "").StartsWith("blksize=1428", StringComparison.Ordinal));
        Assert.Contains("tsize=300000", withOptions.Detail!["negotiated"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Curl_http_and_https_on_the_provisioning_ports_and_no_control_api_there()
    {
        foreach (var (listener, scheme) in new[] { ("tcp/6970", "http"), ("tcp/6971", "https"), ("tcp/6972", "https") })
        {
            var local = Out($"h-{Port(listener)}");
            var r = await ExternalTool.RunAsync("curl", ["-sSk", "--fail", "-o", local, $"{scheme}://127.0.0.1:{Port(listener)}/firmware/big.bin"], TimeSpan.FromSeconds(30)).DefaultTimeout();
            Assert.True(r.ExitCode == 0, r.All);
            Assert.Equal(Firmware, await File.ReadAllBytesAsync(local));

            r = await ExternalTool.RunAsync("curl", ["-sk", "-o", "/dev/null", "-w", "%{http_code} %{content_type}", $"{scheme}://127.0.0.1:{Port(listener)}/SEP001122334455.cnf.xml"], TimeSpan.FromSeconds(30)).DefaultTimeout();
            Assert.Equal("200 text/xml", r.Stdout);
            r = await ExternalTool.RunAsync("curl", ["-sk", "-o", "/dev/null", "-w", "%{http_code}", $"{scheme}://127.0.0.1:{Port(listener)}/CTLSEP001122334455.tlv"], TimeSpan.FromSeconds(30)).DefaultTimeout();
            Assert.Equal("404", r.Stdout);
            r = await ExternalTool.RunAsync("curl", ["-sk", "-o", "/dev/null", "-w", "%{http_code}", $"{scheme}://127.0.0.1:{Port(listener)}/healthz"], TimeSpan.FromSeconds(30)).DefaultTimeout();
            Assert.Equal("404", r.Stdout);
        }

        // The signed name on HTTPS is answered with the unsigned file.
        var sgn = await ExternalTool.RunAsync("curl", ["-sSk", "--fail", $"https://127.0.0.1:{Port("tcp/6971")}/SEP001122334455.cnf.xml.sgn"], TimeSpan.FromSeconds(30)).DefaultTimeout();
        Assert.Equal(Encoding.UTF8.GetString(Config), sgn.Stdout);

        // Traversal is refused; another HTTP listener of the profile answers an honest 404; the control API still works.
        var traversal = await ExternalTool.RunAsync("curl", ["-s", "--path-as-is", "-o", "/dev/null", "-w", "%{http_code}", $"http://127.0.0.1:{Port("tcp/6970")}/../etc/passwd"], TimeSpan.FromSeconds(30)).DefaultTimeout();
        Assert.Contains(traversal.Stdout, new[] { "403", "404", "400" });
        var other = await ExternalTool.RunAsync("curl", ["-s", "-w", " %{http_code}", $"http://127.0.0.1:{Port("tcp/8080")}/ccmcip/xmldirectory.jsp"], TimeSpan.FromSeconds(30)).DefaultTimeout();
        Assert.EndsWith(" 404", other.Stdout, StringComparison.Ordinal);
        Assert.Contains("tcp/8080", other.Stdout, StringComparison.Ordinal);
        var health = await ExternalTool.RunAsync("curl", ["-s", "--fail", $"http://{_server.ControlEndPoint}/healthz"], TimeSpan.FromSeconds(30)).DefaultTimeout();
        Assert.True(health.ExitCode == 0, health.All);

        var record = await _server.WaitForRecordAsync(x => x.Kind == "provisioning" && x.Protocol == "https" && x.Verdict == "complete");
        Assert.Equal("300000", record.Detail!["bytes"]);
    }

    [Fact]
    public async Task Tshark_decodes_the_exchange_without_malformed_packets_and_shows_the_ephemeral_data_port()
    {
        var capture = Out("tftp.pcapng");
        using var tshark = await TsharkCapture.StartAsync(TftpOnly, capture, bufferMegabytes: 64);
        try
        {
            // A warm-up transfer: the first packets after "Capture started" can still be missed.
            await ExternalTool.RunAsync("tftp", ["127.0.0.1", Port("udp/69"), "-m", "octet", "-c", "get", "notes.txt", Out("t0")], TimeSpan.FromSeconds(30)).DefaultTimeout();
            var r = await ExternalTool.RunAsync("tftp", ["127.0.0.1", Port("udp/69"), "-m", "octet", "-c", "get", "SEP001122334455.cnf.xml", Out("t1")], TimeSpan.FromSeconds(30)).DefaultTimeout();
            Assert.True(r.ExitCode == 0, r.All);
            r = await ExternalTool.RunAsync("atftp", ["--option", "blksize 1428", "--option", "tsize 0", "--option", "windowsize 8", "-g", "-r", "firmware/big.bin", "-l", Out("t2"), "127.0.0.1", Port("udp/69")], TimeSpan.FromSeconds(30)).DefaultTimeout();
            Assert.True(r.ExitCode == 0, r.All);
            r = await ExternalTool.RunAsync("tftp", ["127.0.0.1", Port("udp/69"), "-m", "octet", "-c", "get", "missing.bin", Out("t3")], TimeSpan.FromSeconds(30)).DefaultTimeout();
            Assert.Contains("File not found", r.All, StringComparison.Ordinal);

            // A trailing transfer, so the packets that matter are not the last ones before the capture stops.
            await ExternalTool.RunAsync("tftp", ["127.0.0.1", Port("udp/69"), "-m", "octet", "-c", "get", "notes.txt", Out("t4")], TimeSpan.FromSeconds(30)).DefaultTimeout();
            await _server.WaitForRecordAsync(x => x.Kind == "provisioning" && x.Detail!["file"] == "firmware/big.bin" && x.Verdict == "complete");

            // The capture hands packets over in blocks: wait (bounded) until the trailing request is in the file.
            for (var attempt = 0; attempt < 40; attempt++)
            {
                var seen = await ExternalTool.RunAsync("tshark", ["-r", capture, "-d", $"udp.port=={Port("udp/69")},tftp", "-Y", "tftp.source_file == \"notes.txt\""], TimeSpan.FromSeconds(30)).DefaultTimeout();
                if (seen.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length >= 2)
                {
                    break;
                }
            }
        }
        finally
        {
            await tshark.StopAsync().DefaultTimeout();
        }

        var decode = await ExternalTool.RunAsync("tshark", ["-r", capture, "-d", $"udp.port=={Port("udp/69")},tftp", "-Y", "tftp", "-T", "fields",
            "-e", "udp.srcport", "-e", "udp.dstport", "-e", "tftp.opcode", "-e", "tftp.option.name", "-e", "tftp.error.code"], TimeSpan.FromSeconds(60)).DefaultTimeout();
        Assert.True(decode.ExitCode == 0, decode.All);
        var all = await ExternalTool.RunAsync("tshark", ["-r", capture, "-c", "5"], TimeSpan.FromSeconds(60)).DefaultTimeout();
        Assert.True(decode.Stdout.Length > 0, $"no tftp in capture; first packets: {all.All}; tshark said: {tshark.Stderr}");
        var rows = decode.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split('\t')).ToList();
        var listenerPort = Port("udp/69");
        Assert.True(rows.Count(r => r[1] == listenerPort && r[2] == "1") >= 3, decode.Stdout);
        // Every OACK comes from a transfer's own port, never the listener's; the windowed transfer's carries
        // windowsize. (A busy loopback can hold a retransmitted OACK, so there may be more than one.)
        var oacks = rows.Where(r => r[2] == "6").ToList();
        Assert.NotEmpty(oacks);
        Assert.All(oacks, oack => Assert.NotEqual(listenerPort, oack[0]));
        Assert.Contains(oacks, oack => oack[3].Contains("windowsize", StringComparison.Ordinal));
        Assert.Contains(rows, r => r[2] == "3" && r[0] != listenerPort);
        Assert.True(rows.Any(r => r[2] == "5" && r[4] == "1" && r[0] != listenerPort), decode.Stdout);
        Assert.DoesNotContain(rows, r => r[2] == "5" && r[4] == "5");

        var malformed = await ExternalTool.RunAsync("tshark", ["-r", capture, "-d", $"udp.port=={listenerPort},tftp", "-Y", "_ws.malformed"], TimeSpan.FromSeconds(60)).DefaultTimeout();
        Assert.True(malformed.ExitCode == 0, malformed.All);
        var detail = await ExternalTool.RunAsync("tshark", ["-r", capture, "-d", $"udp.port=={listenerPort},tftp", "-Y", "_ws.malformed", "-T", "fields", "-e", "frame.number", "-e", "_ws.expert.message", "-e", "tftp.opcode"], TimeSpan.FromSeconds(60)).DefaultTimeout();
        Assert.True(malformed.Stdout.Trim().Length == 0, malformed.Stdout + detail.Stdout);
    }
}
