using System.Buffers.Binary;
using System.Globalization;
using System.Net.Sockets;
using CucmSim.Clients.Ike;
using CucmSim.Protocols.Ike;
using CucmSim.Serve;
using CucmSim.Tests.Infrastructure;

namespace CucmSim.Tests.Ike;

/// <summary>ike-scan and the client against the responder on 500/udp: NO_PROPOSAL_CHOSEN for v1 and v2, errors otherwise.</summary>
public sealed class IkeResponderTests : IAsyncLifetime
{
    private SimServer _server = null!;

    public async Task InitializeAsync() =>
        _server = await SimHost.StartAsync(new ServeOptions { Only = ["t7.ike"], EphemeralPorts = true });

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Theory]
    [InlineData(false, "NO-PROPOSAL-CHOSEN", "ike-v1-main-mode")]
    [InlineData(true, "NO_PROPOSAL_CHOSEN", "ike-v2-sa-init")]
    public async Task Ike_scan_reports_the_responder(bool v2, string notify, string verdict)
    {
        var port = _server.EndPoint("udp/500").Port.ToString(CultureInfo.InvariantCulture);
        List<string> args = ["--sport=0", $"--dport={port}", "--retry=2", "--timeout=2000"];
        if (v2)
        {
            args.Add("--ikev2");
        }

        args.Add("127.0.0.1");
        var result = await ExternalTool.RunAsync("ike-scan", args, TimeSpan.FromSeconds(30)).DefaultTimeout();
        Assert.True(result.ExitCode == 0, result.All);
        Assert.Contains($"Notify message 14 ({notify})", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("1 returned notify", result.Stdout, StringComparison.Ordinal);
        var record = await _server.WaitForRecordAsync(r => r.Kind == "udp-flow" && r.Listener == "udp/500").DefaultTimeout();
        Assert.Equal(verdict, record.Verdict);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public async Task Client_gets_no_proposal_chosen(int version)
    {
        var result = await IkeClient.ProbeAsync(_server.EndPoint("udp/500"), version).DefaultTimeout();
        Assert.Null(result.Error);
        Assert.True(result.NoProposalChosen);
    }

    [Fact]
    public async Task Wrong_messages_get_ikes_own_errors_and_a_counter_and_the_echo_still_answers()
    {
        var target = _server.EndPoint("udp/500");
        using var socket = new Socket(SocketType.Dgram, ProtocolType.Udp);
        socket.Connect(target);
        var buffer = new byte[2048];

        async Task<ushort?> Exchange(byte[] message)
        {
            await socket.SendAsync(message).DefaultTimeout();
            var n = await socket.ReceiveAsync(buffer).DefaultTimeout();
            return IkeCodec.FirstNotifyType(buffer.AsSpan(0, n));
        }

        // IKE_AUTH for an SA that never existed: INVALID_IKE_SPI (RFC 7296 §2.21.4).
        var request = new byte[1024];
        var auth = request[..IkeCodec.WriteV2SaInitRequest(request, 0x42)];
        BinaryPrimitives.WriteUInt64BigEndian(auth.AsSpan(8), 0x99);
        auth[18] = (byte)IkeExchange.V2IkeAuth;
        Assert.Equal((ushort)IkeNotify.InvalidCookieOrSpi, await Exchange(auth));

        // IKE_SA_INIT without KE and Nonce: INVALID_SYNTAX, counted as malformed.
        var bare = request[..IkeCodec.WriteV2SaInitRequest(request, 0x43)];
        var saLength = BinaryPrimitives.ReadUInt16BigEndian(bare.AsSpan(IkeCodec.HeaderSize + 2));
        bare = bare[..(IkeCodec.HeaderSize + saLength)];
        bare[IkeCodec.HeaderSize] = 0;
        BinaryPrimitives.WriteUInt32BigEndian(bare.AsSpan(24), (uint)bare.Length);
        Assert.Equal((ushort)IkeNotify.InvalidSyntax, await Exchange(bare));

        // An IKEv1 header whose payload chain runs past the end: PAYLOAD-MALFORMED.
        var v1 = request[..IkeCodec.WriteV1MainModeRequest(request, 0x44)];
        BinaryPrimitives.WriteUInt16BigEndian(v1.AsSpan(IkeCodec.HeaderSize + 2), 4000);
        Assert.Equal((ushort)IkeNotify.PayloadMalformed, await Exchange(v1));

        Assert.Equal(2, _server.Listeners.Single(l => l.Id == "udp/500").Malformed);

        // A bare 28-octet IKE_AUTH header would get a 36-octet error: larger than the request, so none is sent.
        // The echo that follows is the next datagram back (loopback keeps the order of one socket's sends).
        var header = auth[..IkeCodec.HeaderSize];
        header[16] = 0;
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(24), IkeCodec.HeaderSize);
        await socket.SendAsync(header).DefaultTimeout();
        await socket.SendAsync("CUCMSIM-PROBE 9"u8.ToArray()).DefaultTimeout();
        var e = await socket.ReceiveAsync(buffer).DefaultTimeout();
        Assert.StartsWith("CUCMSIM-ECHO 9 udp/500", System.Text.Encoding.ASCII.GetString(buffer, 0, e), StringComparison.Ordinal);
    }
}
