using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using CucmSim.Protocols.Tftp;
using CucmSim.Serve;
using CucmSim.Serve.Tftp;
using CucmSim.Tests.Infrastructure;

namespace CucmSim.Tests.Tftp;

/// <summary>
/// Path traversal and writes against TFTP (tftp-hpa, atftp, raw packets) and HTTP provisioning (curl --path-as-is,
/// raw requests): refused with the protocol's error, recorded in the ledger, nothing outside the root served and
/// nothing written. A secret file sits beside the root, and a link inside the root points at it.
/// </summary>
public sealed class ProvisioningRefusalTests : IAsyncLifetime
{
    private const string Secret = "SECRET-OUTSIDE-THE-ROOT";
    private readonly string _base = SimHost.TempDirectory();
    private string _root = null!;
    private SimServer _server = null!;

    /// <summary>Names that reach outside the root (or would, decoded): each must never bring the secret.</summary>
    public static readonly string[] Traversals =
    [
        "../secret.txt", "../../secret.txt", "a/../../secret.txt", "/etc/passwd", "//etc/passwd", "..\\secret.txt", "C:\\secret.txt",
        "./../secret.txt", "link.txt", "%2e%2e/secret.txt", "..%2fsecret.txt", "%2e%2e%2fsecret.txt", "%2fetc%2fpasswd", "..%5csecret.txt",
    ];

    public async Task InitializeAsync()
    {
        _root = Path.Combine(_base, "root");
        Directory.CreateDirectory(_root);
        await File.WriteAllTextAsync(Path.Combine(_root, "ok.txt"), "inside\n");
        await File.WriteAllTextAsync(Path.Combine(_base, "secret.txt"), Secret + "\n");
        File.CreateSymbolicLink(Path.Combine(_root, "link.txt"), Path.Combine(_base, "secret.txt"));
        _server = await SimHost.StartAsync(new ServeOptions { Only = [.. TftpServerTests.Flows], EphemeralPorts = true, Tftp = new TftpOptions { Root = _root } });
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private string Port(string listener) => _server.EndPoint(listener).Port.ToString(CultureInfo.InvariantCulture);

    private string[] RootListing() => [.. Directory.EnumerateFileSystemEntries(_base, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal)];

    [Fact]
    public async Task Tftp_hpa_and_atftp_get_no_file_outside_the_root_and_every_refusal_is_recorded()
    {
        var before = RootListing();
        var output = SimHost.TempDirectory();
        var n = 0;
        foreach (var name in Traversals)
        {
            n++;
            var hpaOut = Path.Combine(output, $"hpa-{n}");
            var hpa = await ExternalTool.RunAsync("tftp", ["127.0.0.1", Port("udp/69"), "-m", "octet", "-c", "get", name, hpaOut], TimeSpan.FromSeconds(30)).DefaultTimeout();
            Assert.Contains("Error code", hpa.All, StringComparison.Ordinal);
            Assert.False(File.Exists(hpaOut) && File.ReadAllText(hpaOut).Contains(Secret, StringComparison.Ordinal), $"tftp-hpa got the secret with {name}");

            var atftpOut = Path.Combine(output, $"atftp-{n}");
            var atftp = await ExternalTool.RunAsync("atftp", ["-g", "-r", name, "-l", atftpOut, "127.0.0.1", Port("udp/69")], TimeSpan.FromSeconds(30)).DefaultTimeout();
            Assert.NotEqual(0, atftp.ExitCode);
            Assert.False(File.Exists(atftpOut) && File.ReadAllText(atftpOut).Contains(Secret, StringComparison.Ordinal), $"atftp got the secret with {name}");

            // Each attempt is in the ledger: the name as asked, refused (traversal) or not found (a literal '%').
            var record = await _server.WaitForRecordAsync(r => r.Kind == "provisioning" && r.Detail!["file"] == name && r.Detail["outcome"] == "error");
            Assert.Equal("tftp", record.Detail!["path"]);
        }

        // Names with '%' are taken literally: no such file (ERROR 1); every other one is an access violation (ERROR 2).
        var check = await ExternalTool.RunAsync("tftp", ["127.0.0.1", Port("udp/69"), "-m", "octet", "-c", "get", "../secret.txt", Path.Combine(output, "again")], TimeSpan.FromSeconds(30)).DefaultTimeout();
        Assert.Contains("Error code 2", check.All, StringComparison.Ordinal);
        check = await ExternalTool.RunAsync("tftp", ["127.0.0.1", Port("udp/69"), "-m", "octet", "-c", "get", "%2e%2e/secret.txt", Path.Combine(output, "again2")], TimeSpan.FromSeconds(30)).DefaultTimeout();
        Assert.Contains("Error code 1", check.All, StringComparison.Ordinal);

        // The honest file still comes.
        var ok = await ExternalTool.RunAsync("atftp", ["-g", "-r", "ok.txt", "-l", Path.Combine(output, "ok"), "127.0.0.1", Port("udp/69")], TimeSpan.FromSeconds(30)).DefaultTimeout();
        Assert.True(ok.ExitCode == 0, ok.All);
        Assert.Equal("inside\n", await File.ReadAllTextAsync(Path.Combine(output, "ok")));
        Assert.Equal(before, RootListing());
    }

    [Fact]
    public async Task Writes_are_refused_with_access_violation_recorded_and_nothing_is_written()
    {
        var before = RootListing();
        var upload = Path.Combine(SimHost.TempDirectory(), "upload.txt");
        await File.WriteAllTextAsync(upload, "written?\n");
        foreach (var remote in new[] { "new.txt", "ok.txt", "../planted.txt" })
        {
            var hpa = await ExternalTool.RunAsync("tftp", ["127.0.0.1", Port("udp/69"), "-m", "octet", "-c", "put", upload, remote], TimeSpan.FromSeconds(30)).DefaultTimeout();
            Assert.Contains("Error code 2", hpa.All, StringComparison.Ordinal);
            var atftp = await ExternalTool.RunAsync("atftp", ["-p", "-l", upload, "-r", remote, "127.0.0.1", Port("udp/6969")], TimeSpan.FromSeconds(30)).DefaultTimeout();
            Assert.NotEqual(0, atftp.ExitCode);
            await _server.WaitForRecordAsync(r => r.Kind == "provisioning" && r.Detail!["outcome"] == "error" && r.Detail["file"] == remote && r.Listener == "udp/6969");
        }

        Assert.Equal(before, RootListing());
        Assert.Equal("inside\n", await File.ReadAllTextAsync(Path.Combine(_root, "ok.txt")));
        Assert.False(File.Exists(Path.Combine(_base, "planted.txt")));
    }

    [Fact]
    public async Task Raw_requests_with_nul_bytes_and_odd_encodings_never_bring_the_secret()
    {
        using var client = new RawTftpSocket();
        var listener = _server.EndPoint("udp/69");

        // A NUL ends the name: what follows is the mode (or an option), never part of the path.
        byte[][] datagrams =
        [
            [0, 1, .. "ok.txt"u8, 0, .. "../secret.txt"u8, 0],
            [0, 1, .. "../secret.txt"u8, 0, 0, .. "octet"u8, 0],
            [0, 1, .. ".."u8, 0, .. "/secret.txt"u8, 0, .. "octet"u8, 0],
            [0, 1, .. "ok.txt"u8, 0, .. "octet"u8, 0, .. "../../secret.txt"u8, 0],
            [0, 1, .. "ok.txt"u8, 0, .. "octet"u8, 0, .. "blksize"u8, 0, .. "512"u8, 0, .. "../secret.txt"u8, 0, .. "1"u8, 0],
            [0, 1, .. "\u00c0\u00ae\u00c0\u00ae/secret.txt"u8, 0, .. "octet"u8, 0],
            [0, 1, .. ".%00./secret.txt"u8, 0, .. "octet"u8, 0],
            [0, 1, .. "ok.txt\u0001/../../secret.txt"u8, 0, .. "octet"u8, 0],
        ];
        var malformed = _server.Listeners.Single(l => l.Id == "udp/69").Malformed;
        foreach (var datagram in datagrams)
        {
            client.Send(listener, datagram);
            var (from, packet) = await client.ReceiveAsync();
            var text = Encoding.Latin1.GetString(packet);
            Assert.DoesNotContain(Secret, text, StringComparison.Ordinal);
            if (TftpPacket.TryParseData(packet, out _, out var data))
            {
                // The only file a NUL can leave standing is ok.txt (its options or mode tail ignored or refused).
                Assert.Equal("inside\n", Encoding.ASCII.GetString(data));
                client.SendAck(from, 1);
            }
            else if (TftpPacket.TryParseOptionAck(packet, out _, out _) == System.Buffers.OperationStatus.Done)
            {
                client.SendAck(from, 0);
                var (_, block, data2) = await client.ReceiveDataAsync();
                Assert.Equal(1, block);
                Assert.Equal("inside\n", Encoding.ASCII.GetString(data2));
                client.SendAck(from, 1);
            }
            else
            {
                Assert.True(TftpPacket.TryParseError(packet, out var code, out _), TftpTestText(packet));
                Assert.Contains(code, new[] { TftpErrorCode.IllegalOperation, TftpErrorCode.AccessViolation, TftpErrorCode.FileNotFound, TftpErrorCode.OptionNegotiationFailed });
            }
        }

        // The malformed ones moved the listener's counter.
        Assert.True(_server.Listeners.Single(l => l.Id == "udp/69").Malformed > malformed);
    }

    [Fact]
    public async Task Http_provisioning_refuses_the_same_traversals_with_curl_path_as_is_and_raw_requests()
    {
        var port = Port("tcp/6970");
        foreach (var name in Traversals.Append("..;/secret.txt").Append("%00/../secret.txt").Append("ok.txt%00.xml"))
        {
            var body = Path.Combine(SimHost.TempDirectory(), "body");
            var curl = await ExternalTool.RunAsync("curl", ["-s", "--path-as-is", "-o", body, "-w", "%{http_code}", $"http://127.0.0.1:{port}/{name}"], TimeSpan.FromSeconds(30)).DefaultTimeout();
            Assert.Contains(curl.Stdout, new[] { "400", "403", "404" });
            Assert.DoesNotContain(Secret, File.Exists(body) ? await File.ReadAllTextAsync(body) : string.Empty, StringComparison.Ordinal);
        }

        // Raw request targets curl would not send as they are.
        foreach (var target in new[] { "/../secret.txt", "/..\\secret.txt", "/%2e%2e/secret.txt", "/%2e%2e%2fsecret.txt", "..\\secret.txt", "/ok.txt\0/../secret.txt", "*", "http://127.0.0.1/../secret.txt", "/link.txt" })
        {
            var answer = await RawHttpAsync(_server.EndPoint("tcp/6970"), $"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            var status = answer.Length >= 12 ? answer[9..12] : answer;
            Assert.True(status is "400" or "403" or "404" or "405", $"{target}: {answer}");
            Assert.DoesNotContain(Secret, answer, StringComparison.Ordinal);
        }

        // Writes over HTTP are not methods it serves.
        var put = await ExternalTool.RunAsync("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "PUT", "--data-binary", "x", $"http://127.0.0.1:{port}/new.txt"], TimeSpan.FromSeconds(30)).DefaultTimeout();
        Assert.Equal("405", put.Stdout);
        Assert.False(File.Exists(Path.Combine(_root, "new.txt")));

        var refused = await _server.WaitForRecordAsync(r => r.Kind == "provisioning" && r.Detail!["path"] == "http" && r.Detail["outcome"] == "error");
        Assert.NotNull(refused.Error ?? refused.Detail!.GetValueOrDefault("error"));
    }

    private static string TftpTestText(byte[] packet) => RawTftpSocket.Describe(packet);

    private static async Task<string> RawHttpAsync(IPEndPoint target, string request)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(target).DefaultTimeout();
        await socket.SendAsync(Encoding.Latin1.GetBytes(request)).DefaultTimeout();
        var buffer = new byte[65536];
        var total = 0;
        for (var i = 0; i < 100 && total < buffer.Length; i++)
        {
            var n = await socket.ReceiveAsync(buffer.AsMemory(total)).AsTask().DefaultTimeout();
            if (n == 0)
            {
                break;
            }

            total += n;
        }

        return Encoding.Latin1.GetString(buffer, 0, total);
    }
}
