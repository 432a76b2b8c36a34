using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using CucmSim.Catalog;
using CucmSim.Protocols.Sccp;
using CucmSim.Serve;
using CucmSim.Serve.Sccp;
using CucmSim.Tests.Infrastructure;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace CucmSim.Tests.Sccp;

/// <summary>The SCCP handler over in-memory pipes: bytes fed one at a time, time from a fake clock.</summary>
public sealed class SccpHandlerTests
{
    private sealed class Harness : IAsyncDisposable
    {
        private readonly Pipe _toServer = new();
        private readonly Pipe _toPhone = new();

        private readonly bool _ownsLedger;

        /// <summary>A phone connection; with <paramref name="sameListener"/>, a second connection to that harness's listener.</summary>
        public Harness(SccpOptions options, Harness? sameListener = null, int peerPort = 40000)
        {
            _ownsLedger = sameListener is null;
            Time = sameListener?.Time ?? new(new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero));
            Ledger = sameListener?.Ledger ?? new Ledger(new LedgerOptions(), Time);
            Context = sameListener?.Context ?? new ServeContext(Ledger, Time, NullLoggerFactory.Instance, new ServeLimits(), CancellationToken.None)
            {
                Certificates = new CertificateService(new CertificateOptions { StateDirectory = SimHost.TempDirectory() }),
                Sccp = options,
            };
            Listener = sameListener?.Listener ?? new ListenerRuntime(new ListenerSpec("tcp/2000", "cucm", Transport.Tcp, 2000, "sccp", []), "tcp/2000", IPAddress.Loopback, 2000);
            Protocol = sameListener?.Protocol ?? new SccpProtocol(Context, tls: false);
            Connection = new DefaultConnectionContext("c" + peerPort, new Duplex(_toServer.Reader, _toPhone.Writer), new Duplex(_toPhone.Reader, _toServer.Writer))
            {
                RemoteEndPoint = new IPEndPoint(IPAddress.Parse("198.51.100.7"), peerPort),
                LocalEndPoint = new IPEndPoint(IPAddress.Loopback, 2000),
            };
            Connection.Features.Set(Session);
            Run = Task.Run(() => Protocol.RunAsync(Connection, Listener, Context));
        }

        public FakeTimeProvider Time { get; }
        public SccpProtocol Protocol { get; }
        public Ledger Ledger { get; }
        public ServeContext Context { get; }
        public ListenerRuntime Listener { get; }
        public DefaultConnectionContext Connection { get; }
        public TcpSessionFeature Session { get; } = new();
        public Task Run { get; }

        /// <summary>Writes a message one byte per flush.</summary>
        public async Task SendByteByByteAsync(SccpMessage message, uint version)
        {
            foreach (var b in SccpCodec.Encode(message, version))
            {
                await _toServer.Writer.WriteAsync(new[] { b });
            }
        }

        public async Task<SccpMessage> ReceiveAsync()
        {
            while (true)
            {
                var result = await _toPhone.Reader.ReadAsync().AsTask().DefaultTimeout();
                var reader = new SequenceReader<byte>(result.Buffer);
                var status = SccpCodec.TryRead(ref reader, SccpFraming.DefaultMaxDataLength, out _, out var message);
                if (status == OperationStatus.Done)
                {
                    _toPhone.Reader.AdvanceTo(reader.Position);
                    return message!;
                }

                Assert.NotEqual(OperationStatus.InvalidData, status);
                Assert.False(result.IsCompleted, "the handler closed the connection");
                _toPhone.Reader.AdvanceTo(result.Buffer.Start, result.Buffer.End);
            }
        }

        public async Task CloseAsync() => await _toServer.Writer.CompleteAsync();

        public async ValueTask DisposeAsync()
        {
            await _toServer.Writer.CompleteAsync();
            await Run.DefaultTimeout();
            if (_ownsLedger)
            {
                await Ledger.DisposeAsync();
            }
        }
    }

    private sealed class Duplex(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;
        public PipeWriter Output { get; } = output;
    }

    [Fact]
    public async Task Registration_and_boot_fed_byte_by_byte_are_answered_in_order()
    {
        await using var h = new Harness(new SccpOptions { MaxProtocolVersion = 16 });
        await h.SendByteByByteAsync(new SccpRegister { DeviceName = "SEP001122334455", StationAddress = IPAddress.Parse("10.1.2.3"), ProtocolVersion = 17 }, 0);
        var ack = Assert.IsType<SccpRegisterAck>(await h.ReceiveAsync());
        Assert.Equal(16, ack.MaxProtocolVersion); // min(phone 17, configured 16)
        Assert.Equal(SccpMessageId.CapabilitiesReq, (await h.ReceiveAsync()).Id);
        Assert.Equal("REG-EMB 10.1.2.3", Assert.IsType<SccpDisplayNotify>(await h.ReceiveAsync()).Text);
        Assert.Equal("REG-SEEN 198.51.100.7:40000", Assert.IsType<SccpDisplayNotify>(await h.ReceiveAsync()).Text);

        Assert.True(h.Context.Devices.TryGet("SEP001122334455", out var device));
        Assert.True(device!.AddressDiffers);
        Assert.Equal(16, device.ProtocolVersion);

        (SccpMessage Request, uint Answer)[] boot =
        [
            (SccpEmpty.ButtonTemplateReq, SccpMessageId.ButtonTemplateRes),
            (SccpEmpty.SoftKeyTemplateReq, SccpMessageId.SoftKeyTemplateRes),
            (SccpEmpty.SoftKeySetReq, SccpMessageId.SoftKeySetRes),
            (SccpEmpty.ConfigStatReq, SccpMessageId.ConfigStatRes),
            (new SccpValue(SccpMessageId.LineStatReq, 1), SccpMessageId.LineStatRes),
            (SccpEmpty.TimeDateReq, SccpMessageId.TimeDateRes),
            (SccpEmpty.KeepAliveReq, SccpMessageId.KeepAliveAck),
        ];
        foreach (var (request, answer) in boot)
        {
            await h.SendByteByByteAsync(request, 0x10);
            var m = await h.ReceiveAsync();
            Assert.Equal(answer, m.Id);
            if (m is SccpTimeDateRes time)
            {
                Assert.Equal(h.Time.GetUtcNow().ToUnixTimeSeconds(), time.Time.ToUnixTimeSeconds());
            }
        }

        var record = Assert.Single(h.Ledger.Since(0), r => r.Kind == "sccp-register");
        Assert.Equal("10.1.2.3", record.Detail!["embedded"]);
        Assert.Equal("198.51.100.7:40000", record.Detail["seen"]);
        Assert.Equal("True", record.Detail["addressDiffers"]);
    }

    [Fact]
    public async Task Missed_keepalives_unregister_the_phone_and_close_on_the_fake_clock()
    {
        await using var h = new Harness(new SccpOptions { KeepAliveSeconds = 10, KeepAliveMisses = 3, Mirror = false });
        await h.SendByteByByteAsync(new SccpRegister { DeviceName = "SEP0000000000AA", ProtocolVersion = 17 }, 0);
        Assert.IsType<SccpRegisterAck>(await h.ReceiveAsync());
        await h.ReceiveAsync();

        for (var i = 0; i < 3; i++)
        {
            h.Time.Advance(TimeSpan.FromSeconds(29));
            await h.SendByteByByteAsync(SccpEmpty.KeepAliveReq, 0x11);
            Assert.Equal(SccpMessageId.KeepAliveAck, (await h.ReceiveAsync()).Id);
        }

        Assert.False(h.Run.IsCompleted);
        Assert.Equal(1, h.Context.Devices.Count);
        h.Time.Advance(TimeSpan.FromSeconds(30));
        await h.Run.DefaultTimeout();
        Assert.Equal(0, h.Context.Devices.Count);
        var timeout = Assert.Single(h.Ledger.Since(0), r => r.Kind == "sccp-keepalive-timeout");
        Assert.Equal("SEP0000000000AA", timeout.Detail!["device"]);
        Assert.Equal("3", timeout.Detail["keepalives"]);
        Assert.Single(h.Ledger.Since(0), r => r.Kind == "sccp-unregister" && r.Verdict == "keepalive-timeout");
        Assert.Equal("sccp-keepalive-timeout", h.Session.Verdict);
    }

    [Fact]
    public async Task A_connection_that_never_registers_is_closed_after_the_same_deadline()
    {
        await using var h = new Harness(new SccpOptions { KeepAliveSeconds = 5, KeepAliveMisses = 2 });
        await h.SendByteByByteAsync(SccpEmpty.KeepAliveReq, 0); // the session runs (a keepalive restarts the deadline)
        Assert.Equal(SccpMessageId.KeepAliveAck, (await h.ReceiveAsync()).Id);
        h.Time.Advance(TimeSpan.FromSeconds(9));
        Assert.False(h.Run.IsCompleted);
        h.Time.Advance(TimeSpan.FromSeconds(1));
        await h.Run.DefaultTimeout();
        Assert.Single(h.Ledger.Since(0), r => r.Kind == "sccp-keepalive-timeout" && r.Detail!["registered"] == "False");
    }

    [Fact]
    public async Task One_sweep_per_listener_closes_only_the_phone_that_went_silent()
    {
        await using var quiet = new Harness(new SccpOptions { KeepAliveSeconds = 10, KeepAliveMisses = 2, Mirror = false });
        await using var alive = new Harness(quiet.Context.Sccp, sameListener: quiet, peerPort: 40001);
        await quiet.SendByteByByteAsync(new SccpRegister { DeviceName = "SEP0000000000B1", ProtocolVersion = 17 }, 0);
        Assert.IsType<SccpRegisterAck>(await quiet.ReceiveAsync());
        await alive.SendByteByByteAsync(new SccpRegister { DeviceName = "SEP0000000000B2", ProtocolVersion = 17 }, 0);
        Assert.IsType<SccpRegisterAck>(await alive.ReceiveAsync());
        Assert.Equal(2, quiet.Protocol.Sweep.Count);

        for (var i = 0; i < 3; i++)
        {
            quiet.Time.Advance(TimeSpan.FromSeconds(10));
            await alive.SendByteByByteAsync(SccpEmpty.KeepAliveReq, 0x11);
            while ((await alive.ReceiveAsync()).Id != SccpMessageId.KeepAliveAck)
            {
            }
        }

        // 30 s without a keepalive (deadline 20 s): the quiet phone is gone, the other one stays registered.
        await quiet.Run.DefaultTimeout();
        Assert.False(alive.Run.IsCompleted);
        Assert.False(quiet.Context.Devices.TryGet("SEP0000000000B1", out _));
        Assert.True(quiet.Context.Devices.TryGet("SEP0000000000B2", out _));
        Assert.Equal(1, quiet.Protocol.Sweep.Count);
        Assert.Single(quiet.Ledger.Since(0), r => r.Kind == "sccp-keepalive-timeout" && r.Detail!["device"] == "SEP0000000000B1");

        await alive.CloseAsync();
        await alive.Run.DefaultTimeout();
        Assert.Equal(0, quiet.Protocol.Sweep.Count);
    }
}
