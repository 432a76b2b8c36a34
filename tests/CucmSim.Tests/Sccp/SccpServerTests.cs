using System.Net;
using CucmSim.Clients.Sccp;
using CucmSim.Protocols.Sccp;
using CucmSim.Serve;
using CucmSim.Serve.Sccp;
using CucmSim.Tests.Infrastructure;

namespace CucmSim.Tests.Sccp;

public sealed class SccpServerTests
{
    [Theory]
    [InlineData((byte)17, 17, false)]
    [InlineData((byte)0, 0, false)]
    [InlineData((byte)11, 11, false)]
    [InlineData((byte)17, 17, true)]
    public async Task A_phone_registers_boots_keeps_alive_calls_with_media_and_unregisters(byte phoneVersion, int negotiated, bool tls)
    {
        await using var server = await SccpTestHost.StartAsync();
        await using var phone = new SccpPhone(new SccpPhoneOptions { DeviceName = "SEP001122334455", ProtocolVersion = phoneVersion, Tls = tls });
        await phone.ConnectAsync(tls ? server.SccpTls() : server.Sccp()).DefaultTimeout();
        if (tls)
        {
            Assert.NotNull(phone.ServerCertificate);
        }

        var registration = await phone.RegisterAsync().DefaultTimeout();
        Assert.True(registration.Accepted, registration.RejectText);
        Assert.Equal(negotiated, registration.NegotiatedVersion);
        Assert.Equal(30u, registration.Ack!.KeepAliveInterval);

        var boot = await phone.BootAsync().DefaultTimeout();
        Assert.Equal(new SccpButton(1, 9), Assert.Single(boot.Buttons));
        // 100000 + (0x001122334455 mod 900000): the directory number follows from the MAC.
        Assert.Equal("729205", boot.DirectoryNumber);
        await phone.KeepAliveAsync().DefaultTimeout();

        var registered = await server.WaitForRecordAsync(r => r.Kind == "sccp-register" && r.Detail!["device"] == phone.Options.DeviceName);
        Assert.Equal(negotiated.ToString(System.Globalization.CultureInfo.InvariantCulture), registered.Detail!["protocol"]);
        Assert.True(server.Context.Devices.TryGet(phone.Options.DeviceName, out var device));
        Assert.Equal("127.0.0.1", device!.EmbeddedAddress);
        Assert.Equal(phone.LocalEndPoint!.ToString(), device.SeenAddress);

        var call = await phone.CallAsync("1000", rtpPackets: 10).DefaultTimeout();
        Assert.True(call.Connected, call.Error);
        Assert.True(call.Stopped && call.Closed);
        Assert.Equal(10, call.RtpSent);
        Assert.True(call.RtpEchoed >= 8, $"{call.RtpEchoed} of 10 RTP packets echoed by the pool port {call.MediaTarget}");
        var opened = await server.WaitForRecordAsync(r => r.Kind == "sccp-media-open" && r.Detail!["device"] == phone.Options.DeviceName);
        Assert.Equal(call.PhoneMedia!.ToString(), opened.Detail!["phoneMediaEmbedded"]);
        Assert.Equal(call.MediaTarget!.ToString(), opened.Detail["rtp"]);
        var closed = await server.WaitForRecordAsync(r => r.Kind == "sccp-media-close" && r.Detail!["device"] == phone.Options.DeviceName);
        Assert.Equal("onhook", closed.Detail!["reason"]);

        // The mirror: nothing between phone and server rewrote anything on loopback.
        var mirror = phone.Mirror();
        Assert.Equal("127.0.0.1", mirror.EmbeddedSeen);
        Assert.False(mirror.EmbeddedRewritten);
        Assert.False(mirror.SignallingTranslated, $"{mirror.LocalSignalling} vs {mirror.SignallingSeen}");
        Assert.Equal(call.PhoneMedia.ToString(), mirror.MediaSeen);

        Assert.Equal(0u, await phone.UnregisterAsync().DefaultTimeout());
        await server.WaitForRecordAsync(r => r.Kind == "sccp-unregister" && r.Detail!["device"] == phone.Options.DeviceName);
        Assert.False(server.Context.Devices.TryGet(phone.Options.DeviceName, out _));
        var tcpClose = await server.WaitForRecordAsync(r => r.Kind == "tcp-close" && r.Peer == phone.LocalEndPoint.ToString());
        Assert.Equal("sccp-unregistered", tcpClose.Verdict);
    }

    [Fact]
    public async Task A_phone_that_reached_a_second_address_of_a_wildcard_server_gets_media_on_that_address()
    {
        // 127.0.0.2 is this host's too, but not the address its routing prefers for answers (127.0.0.1).
        await using var server = await SccpTestHost.StartAsync(bind: IPAddress.IPv6Any);
        var second = new IPEndPoint(IPAddress.Parse("127.0.0.2"), server.Sccp().Port);
        await using var phone = new SccpPhone();
        await phone.ConnectAsync(second).DefaultTimeout();
        await phone.RegisterAsync().DefaultTimeout();
        var call = await phone.CallAsync("1000", rtpPackets: 5).DefaultTimeout();
        Assert.True(call.Connected, call.Error);
        Assert.Equal(second.Address, call.MediaTarget!.Address);

        // The pool answers from the address the media was sent to, so even a connected socket hears it.
        Assert.True(call.RtpEchoed >= 4, $"{call.RtpEchoed} of 5 echoed by {call.MediaTarget}");
    }

    [Fact]
    public async Task An_ipv6_phone_gets_v17_media_addresses_over_ipv6_and_the_control_api_lists_it()
    {
        await using var server = await SccpTestHost.StartAsync(bind: IPAddress.IPv6Loopback);
        await using var phone = new SccpPhone(new SccpPhoneOptions { ProtocolVersion = 20 });
        await phone.ConnectAsync(server.Sccp()).DefaultTimeout();
        var registration = await phone.RegisterAsync().DefaultTimeout();
        Assert.Equal(20, registration.NegotiatedVersion);
        Assert.Equal(0x14u, registration.HeaderVersion);
        var call = await phone.CallAsync("1000", rtpPackets: 5).DefaultTimeout();
        Assert.True(call.Connected, call.Error);
        Assert.Equal(IPAddress.IPv6Loopback, call.MediaTarget!.Address);
        Assert.True(call.RtpEchoed >= 4, $"{call.RtpEchoed} of 5 echoed");
        var mirror = phone.Mirror();
        Assert.Equal("::1", mirror.EmbeddedSeen);
        Assert.False(mirror.MediaRewritten);

        using var http = server.Control();
        var devices = await http.GetStringAsync(new Uri("/api/devices", UriKind.Relative)).DefaultTimeout();
        Assert.Contains(phone.Options.DeviceName, devices, StringComparison.Ordinal);
        Assert.Contains("::1", devices, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Another_number_is_busy_and_a_pool_without_ports_says_so()
    {
        await using var server = await SccpTestHost.StartAsync(media: false);
        await using var phone = new SccpPhone();
        await phone.ConnectAsync(server.Sccp()).DefaultTimeout();
        Assert.True((await phone.RegisterAsync().DefaultTimeout()).Accepted);
        var busy = await phone.CallAsync("4321").DefaultTimeout();
        Assert.False(busy.Connected);
        Assert.StartsWith("UNKNOWN NUMBER", busy.Error, StringComparison.Ordinal);
        var noMedia = await phone.CallAsync("1000").DefaultTimeout();
        Assert.False(noMedia.Connected);
        Assert.Equal("NO MEDIA PORT", noMedia.Error);
        await server.WaitForRecordAsync(r => r.Kind == "sccp-media-failed" && r.Verdict == "no-media-port");
    }

    [Fact]
    public async Task Registrations_are_rejected_by_pattern_limit_and_fault_switch()
    {
        await using (var server = await SccpTestHost.StartAsync(new SccpOptions { DeviceNamePattern = "^SEP0011", MaxDevices = 1 }, media: false))
        {
            await using var wrongName = new SccpPhone(new SccpPhoneOptions { DeviceName = "SEPAABBCCDDEEFF" });
            await wrongName.ConnectAsync(server.Sccp()).DefaultTimeout();
            var rejected = await wrongName.RegisterAsync().DefaultTimeout();
            Assert.False(rejected.Accepted);
            Assert.Equal("No Authority: SEPAABBCCDDEEFF", rejected.RejectText);
            Assert.Null(await wrongName.ReceiveAsync().DefaultTimeout()); // and the connection is closed
            var reject = await server.WaitForRecordAsync(r => r.Kind == "sccp-reject");
            Assert.Contains("does not match", reject.Detail!["reason"], StringComparison.Ordinal);

            await using var first = new SccpPhone(new SccpPhoneOptions { DeviceName = "SEP001100000001" });
            await first.ConnectAsync(server.Sccp()).DefaultTimeout();
            Assert.True((await first.RegisterAsync().DefaultTimeout()).Accepted);
            await using var second = new SccpPhone(new SccpPhoneOptions { DeviceName = "SEP001100000002" });
            await second.ConnectAsync(server.Sccp()).DefaultTimeout();
            Assert.False((await second.RegisterAsync().DefaultTimeout()).Accepted);
            await server.WaitForRecordAsync(r => r.Kind == "sccp-reject" && r.Detail!["reason"].Contains("limit", StringComparison.Ordinal));
            Assert.Equal(2, server.Context.Devices.Rejections);
        }

        await using (var server = await SccpTestHost.StartAsync(new SccpOptions { RejectAll = true }, media: false))
        {
            await using var phone = new SccpPhone();
            await phone.ConnectAsync(server.Sccp()).DefaultTimeout();
            Assert.False((await phone.RegisterAsync().DefaultTimeout()).Accepted);
            await server.WaitForRecordAsync(r => r.Kind == "sccp-reject" && r.Detail!["reason"].Contains("fault", StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task Bad_input_closes_only_its_own_connection_and_unknown_messages_are_ignored()
    {
        await using var server = await SccpTestHost.StartAsync(media: false);
        await using var good = new SccpPhone();
        await good.ConnectAsync(server.Sccp()).DefaultTimeout();
        Assert.True((await good.RegisterAsync().DefaultTimeout()).Accepted);

        byte[][] bad =
        [
            "GET / HTTP/1.1\r\nHost: x\r\n\r\n"u8.ToArray(),                    // garbage: "GET " is a length far above the limit
            Convert.FromHexString("FFFFFF7F000000000100000000"),             // huge length
            Convert.FromHexString("0400000001000000000000"),                  // a header version no phone sends
            Convert.FromHexString("0300000000000000000000"),                  // a length below the message id
        ];
        foreach (var bytes in bad)
        {
            await using var evil = new SccpPhone();
            await evil.ConnectAsync(server.Sccp()).DefaultTimeout();
            await evil.SendRawAsync(bytes).DefaultTimeout();
            Assert.Null(await evil.ReceiveAsync().DefaultTimeout());
            var closed = await server.WaitForRecordAsync(r => r.Kind == "tcp-close" && r.Peer == evil.LocalEndPoint!.ToString());
            Assert.Equal("sccp-malformed", closed.Verdict);
            Assert.False(string.IsNullOrEmpty(closed.Detail!["error"]));
        }

        // A truncated frame followed by the peer's close is recorded; an unknown id is skipped and the phone goes on.
        await using (var truncated = new SccpPhone())
        {
            await truncated.ConnectAsync(server.Sccp()).DefaultTimeout();
            await truncated.SendRawAsync(SccpCodec.Encode(new SccpRegister { DeviceName = "SEP000000000001" }, 0).AsMemory(0, 40)).DefaultTimeout();
            await truncated.DisposeAsync();
            var closed = await server.WaitForRecordAsync(r => r.Kind == "tcp-close" && r.Peer == truncated.LocalEndPoint!.ToString());
            Assert.Equal("truncated frame at close", closed.Detail!["error"]);
        }

        await using var odd = new SccpPhone();
        await odd.ConnectAsync(server.Sccp()).DefaultTimeout();
        Assert.True((await odd.RegisterAsync().DefaultTimeout()).Accepted);
        await odd.SendRawAsync(Convert.FromHexString("0c000000110000003412000001020304aabbccdd")).DefaultTimeout();
        await odd.SendRawAsync(Convert.FromHexString("08000000110000000100000001000000")).DefaultTimeout(); // RegisterReq with a 4-byte body
        await odd.KeepAliveAsync().DefaultTimeout();

        await good.KeepAliveAsync().DefaultTimeout();
        Assert.Equal(2, server.Context.Devices.Count);
        Assert.True(server.Listeners.Single(l => l.Id == "tcp/2000").Malformed >= 5);
    }

    [Fact]
    public async Task Fragmenting_on_purpose_still_parses_at_the_phone()
    {
        await using var server = await SccpTestHost.StartAsync(new SccpOptions { Fragment = true }, media: false);
        await using var phone = new SccpPhone();
        await phone.ConnectAsync(server.Sccp()).DefaultTimeout();
        Assert.True((await phone.RegisterAsync().DefaultTimeout()).Accepted);
        await phone.KeepAliveAsync().DefaultTimeout();
    }

    [Fact]
    public async Task Openssl_shows_the_callmanager_certificate_and_its_sans_on_2443()
    {
        var certificates = new CertificateOptions { HostNames = ["cucm-sccp.example.test"], Addresses = [IPAddress.Parse("192.0.2.55")] };
        await using var server = await SccpTestHost.StartAsync(media: false, certificates: certificates);
        var ep = server.SccpTls();
        var s = await ExternalTool.RunAsync("openssl", ["s_client", "-connect", $"{ep.Address}:{ep.Port}", "-servername", "cucm-sccp.example.test"], TimeSpan.FromSeconds(20), stdin: string.Empty);
        Assert.Contains("BEGIN CERTIFICATE", s.Stdout, StringComparison.Ordinal);
        var pem = s.Stdout[s.Stdout.IndexOf("-----BEGIN CERTIFICATE-----", StringComparison.Ordinal)..(s.Stdout.IndexOf("-----END CERTIFICATE-----", StringComparison.Ordinal) + 25)];
        var x509 = await ExternalTool.RunAsync("openssl", ["x509", "-noout", "-text"], TimeSpan.FromSeconds(20), stdin: pem + "\n");
        Assert.Contains("DNS:cucm-sccp.example.test", x509.Stdout, StringComparison.Ordinal);
        Assert.Contains("IP Address:192.0.2.55", x509.Stdout, StringComparison.Ordinal);

        await using var phone = new SccpPhone(new SccpPhoneOptions { Tls = true });
        await phone.ConnectAsync(ep).DefaultTimeout();
        Assert.Equal(server.Context.Certificates.Get("CallManager").Thumbprint, phone.ServerCertificate!.Thumbprint);
        Assert.True((await phone.RegisterAsync().DefaultTimeout()).Accepted);
        var reg = await server.WaitForRecordAsync(r => r.Kind == "sccp-register" && r.Detail!["device"] == phone.Options.DeviceName);
        Assert.Equal("True", reg.Detail!["tls"]);
    }
}
