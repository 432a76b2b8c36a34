using System.Buffers;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using CucmSim.Clients.Ssh;
using CucmSim.Protocols.Ssh;
using CucmSim.Serve;
using CucmSim.Tests.Infrastructure;

namespace CucmSim.Tests.Ssh;

/// <summary>OpenSSH's own clients (ssh-keyscan, ssh), nmap and the probe's client against SSH on 22.</summary>
public sealed class SshServerTests : IAsyncLifetime
{
    private SimServer _server = null!;
    private LedgerRecord _hostKey = null!;

    private string Port => _server.EndPoint("tcp/22").Port.ToString(CultureInfo.InvariantCulture);

    public async Task InitializeAsync()
    {
        _server = await SimHost.StartAsync(new ServeOptions { Only = ["t1.sftp-subscriber"], EphemeralPorts = true });
        _hostKey = await _server.WaitForRecordAsync(r => r.Kind == "event" && r.Verdict == "ssh-host-key");
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task Ssh_keyscan_gets_the_host_key_serve_recorded_and_its_fingerprint_matches()
    {
        var scan = await ExternalTool.RunAsync("ssh-keyscan", ["-T", "10", "-t", "ecdsa", "-p", Port, "127.0.0.1"], TimeSpan.FromSeconds(20)).DefaultTimeout();
        Assert.True(scan.ExitCode == 0, scan.All);
        var line = Assert.Single(scan.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal($"[127.0.0.1]:{Port} {_hostKey.Detail!["publicKey"]}", line);
        Assert.Contains("SSH-2.0-OpenSSH_7.4", scan.Stderr, StringComparison.Ordinal);

        // The file in the state directory holds the same key, and ssh-keygen computes the recorded fingerprint.
        Assert.StartsWith(_hostKey.Detail["publicKey"] + " ", await File.ReadAllTextAsync(_hostKey.Detail["file"] + ".pub"), StringComparison.Ordinal);
        var keygen = await ExternalTool.RunAsync("ssh-keygen", ["-l", "-f", "-"], TimeSpan.FromSeconds(10), stdin: line + "\n").DefaultTimeout();
        Assert.True(keygen.ExitCode == 0, keygen.All);
        Assert.Contains($"256 {_hostKey.Detail["fingerprint"]} ", keygen.Stdout, StringComparison.Ordinal);
        var pub = await ExternalTool.RunAsync("ssh-keygen", ["-y", "-f", _hostKey.Detail["file"]], TimeSpan.FromSeconds(10)).DefaultTimeout();
        Assert.True(pub.ExitCode == 0, pub.All);
        Assert.StartsWith(_hostKey.Detail["publicKey"], pub.Stdout, StringComparison.Ordinal);

        var record = await _server.WaitForRecordAsync(r => r.Kind == "tcp-close" && r.Verdict == "ssh-kex" && r.Detail!["banner"].Contains("keyscan", StringComparison.Ordinal));
        Assert.Equal(_hostKey.Detail["fingerprint"], record.Detail!["fingerprint"]);
    }

    [Fact]
    public async Task Ssh_sees_the_banner_and_the_host_key_then_is_disconnected_without_authenticating()
    {
        var ssh = await ExternalTool.RunAsync("ssh", ["-v", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "ConnectTimeout=10", "-p", Port, "administrator@127.0.0.1", "show", "version"], TimeSpan.FromSeconds(30)).DefaultTimeout();
        Assert.Equal(255, ssh.ExitCode);
        Assert.Contains("remote software version OpenSSH_7.4", ssh.Stderr, StringComparison.Ordinal);
        Assert.Contains($"Server host key: ecdsa-sha2-nistp256 {_hostKey.Detail!["fingerprint"]}", ssh.Stderr, StringComparison.Ordinal);
        Assert.Contains($"Received disconnect from 127.0.0.1 port {Port}:14:", ssh.Stderr, StringComparison.Ordinal);

        var record = await _server.WaitForRecordAsync(r => r.Kind == "tcp-close" && r.Detail is { } d && d.TryGetValue("newKeys", out _));
        Assert.Equal("ssh-kex", record.Verdict);
        Assert.StartsWith("SSH-2.0-OpenSSH_", record.Detail!["banner"], StringComparison.Ordinal);
        Assert.Equal(("ecdh-sha2-nistp256", "ecdsa-sha2-nistp256"), (record.Detail["kex"], record.Detail["hostKey"]));
        Assert.StartsWith("14: ", record.Detail["disconnect"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Nmap_names_openssh_and_its_version()
    {
        var nmap = await ExternalTool.RunAsync("nmap", ["-sV", "-sT", "-Pn", "-n", "-p", Port, "127.0.0.1"], TimeSpan.FromSeconds(150)).DefaultTimeout(TimeSpan.FromSeconds(160));
        Assert.True(nmap.ExitCode == 0, nmap.All);
        var line = nmap.Stdout.Split('\n').Single(l => l.StartsWith(Port + "/tcp", StringComparison.Ordinal));
        Assert.Matches(@"open\s+ssh\s+OpenSSH 7\.4 \(protocol 2\.0\)", line);
    }

    [Fact]
    public async Task The_client_verifies_the_signature_and_reports_the_fingerprint_and_the_disconnect()
    {
        var result = await SshKeyScanClient.ScanAsync(_server.EndPoint("tcp/22")).DefaultTimeout();
        Assert.True(result.Ok, result.Error);
        Assert.Equal("SSH-2.0-OpenSSH_7.4", result.Server!.Line);
        Assert.Equal(("ecdh-sha2-nistp256", "ecdsa-sha2-nistp256"), (result.Kex, result.HostKeyAlgorithm));
        Assert.Equal(_hostKey.Detail!["fingerprint"], result.Fingerprint);
        Assert.Equal((uint)SshDisconnectReason.NoMoreAuthMethodsAvailable, result.Disconnect!.Reason);
        var record = await _server.WaitForRecordAsync(r => r.Kind == "tcp-close" && r.Detail is { } d && d.TryGetValue("banner", out var b) && b.Contains(SshKeyScanClient.Software, StringComparison.Ordinal));
        Assert.Equal("ssh-kex", record.Verdict);
    }

    [Fact]
    public async Task A_client_offering_no_ecdsa_key_gets_key_exchange_failed()
    {
        var scan = await ExternalTool.RunAsync("ssh-keyscan", ["-T", "10", "-t", "rsa", "-p", Port, "127.0.0.1"], TimeSpan.FromSeconds(20)).DefaultTimeout();
        Assert.Equal(string.Empty, scan.Stdout.Trim());
        var record = await _server.WaitForRecordAsync(r => r.Kind == "tcp-close" && r.Verdict == "ssh-kex-failed");
        Assert.StartsWith("no matching host key type found", record.Detail!["error"], StringComparison.Ordinal);
        Assert.StartsWith("3: ", record.Detail["disconnect"], StringComparison.Ordinal);
        Assert.Equal(0, _server.Listeners.Single(l => l.Id == "tcp/22").Malformed);
    }

    [Fact]
    public async Task Garbage_gets_the_protocols_errors_and_is_counted_and_the_echo_still_answers()
    {
        var target = _server.EndPoint("tcp/22");

        // Not SSH at all: OpenSSH's clear-text answer.
        var text = await ExchangeAsync("GET / HTTP/1.0\r\n\r\n"u8.ToArray());
        Assert.Equal("SSH-2.0-OpenSSH_7.4\r\nInvalid SSH identification string.\r\n", Encoding.ASCII.GetString(text));

        // SSH, then an impossible packet: SSH_MSG_DISCONNECT with a protocol error.
        var answer = await ExchangeAsync([.. "SSH-2.0-x\r\n"u8.ToArray(), 0, 0, 0, 16, 4, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
        var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(answer));
        Assert.Equal(OperationStatus.Done, SshIdentification.TryRead(ref reader, true, out _, out _));
        Assert.Equal(OperationStatus.Done, SshPacket.TryRead(ref reader, out var kexInit, out _));
        Assert.Equal((byte)SshMessage.KexInit, kexInit[0]);
        Assert.Equal(OperationStatus.Done, SshPacket.TryRead(ref reader, out var bye, out _));
        Assert.True(SshDisconnect.TryParse(bye, out var disconnect));
        Assert.Equal((uint)SshDisconnectReason.ProtocolError, disconnect!.Reason);

        var records = new[]
        {
            await _server.WaitForRecordAsync(r => r.Kind == "tcp-close" && r.Verdict == "ssh-malformed" && r.Detail!["first"].StartsWith("GET", StringComparison.Ordinal)),
            await _server.WaitForRecordAsync(r => r.Kind == "tcp-close" && r.Verdict == "ssh-malformed" && r.Detail!.ContainsKey("disconnect")),
        };
        Assert.Equal("SSH-2.0-x", records[1].Detail!["banner"]);
        Assert.Equal(2, _server.Listeners.Single(l => l.Id == "tcp/22").Malformed);

        using var echo = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await echo.ConnectAsync(target).DefaultTimeout();
        await echo.SendAsync("CUCMSIM-PROBE 22\n"u8.ToArray()).DefaultTimeout();
        var buffer = new byte[256];
        var n = await echo.ReceiveAsync(buffer).DefaultTimeout();
        Assert.StartsWith("CUCMSIM-ECHO 22 tcp/22", Encoding.ASCII.GetString(buffer, 0, n), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_silent_client_gets_the_banner_and_a_second_serve_on_the_same_state_keeps_the_key()
    {
        using (var socket = new Socket(SocketType.Stream, ProtocolType.Tcp))
        {
            await socket.ConnectAsync(_server.EndPoint("tcp/22")).DefaultTimeout();
            var buffer = new byte[64];
            var n = await socket.ReceiveAsync(buffer).DefaultTimeout();
            Assert.Equal("SSH-2.0-OpenSSH_7.4\r\n", Encoding.ASCII.GetString(buffer, 0, n));
        }

        var state = Path.GetDirectoryName(Path.GetDirectoryName(_hostKey.Detail!["file"]))!;
        await using var again = await SimHost.StartAsync(new ServeOptions { Only = ["t2.sftp-backup"], Role = "sftp-server", EphemeralPorts = true, StateDirectory = state });
        var second = await again.WaitForRecordAsync(r => r.Kind == "event" && r.Verdict == "ssh-host-key");
        Assert.Equal(_hostKey.Detail["fingerprint"], second.Detail!["fingerprint"]);
        var result = await SshKeyScanClient.ScanAsync(again.EndPoint("tcp/22")).DefaultTimeout();
        Assert.True(result.Ok, result.Error);
        Assert.Equal(_hostKey.Detail["fingerprint"], result.Fingerprint);
    }

    /// <summary>Sends the bytes at once and reads until the server closes.</summary>
    private async Task<byte[]> ExchangeAsync(byte[] data)
    {
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(_server.EndPoint("tcp/22")).DefaultTimeout();
        await socket.SendAsync(data).DefaultTimeout();
        var received = new List<byte>();
        var buffer = new byte[4096];
        int n;
        while ((n = await socket.ReceiveAsync(buffer).DefaultTimeout()) > 0)
        {
            received.AddRange(buffer.AsSpan(0, n));
        }

        return [.. received];
    }
}
