using System.Buffers;
using System.Net;
using CucmSim.Protocols.H323;
using CucmSim.Protocols.Tests.Infrastructure;

namespace CucmSim.Protocols.Tests.H323;

public sealed class H323CodecTests
{
    private static readonly IPEndPoint Gk = new(IPAddress.Parse("192.0.2.1"), 1719);
    private static readonly IPEndPoint Ep = new(IPAddress.Parse("192.0.2.10"), 1719);
    private static readonly byte[] Guid16 = Enumerable.Range(1, 16).Select(i => (byte)i).ToArray();

    // CUCM's GCF for GRQ seq 1000, rasAddress 192.0.2.1:1719 (nmap's "Cisco Unified Communications Manager Gatekeeper RAS service").
    private const string CucmGcf = "068003E7060008914A0005120047004100540045004B0045004500500045005200C000020106B71500000100";

    // The TerminalServer-era reference: RELEASE COMPLETE call-ref 0x8001, cause normal clearing, v4 UUIE undefinedReason.
    private const string ReleaseCompleteV4 = "0300001B080280015A080280907E000B050540060008914A000458";

    [Fact]
    public void Gcf_has_cucms_shape_byte_for_byte()
    {
        var gcf = RasCodec.WriteGcf(1000, "GATEKEEPER", Gk);
        Assert.Equal(CucmGcf, Convert.ToHexString(gcf));
        Assert.True(RasCodec.TryDecode(gcf, out var m, out var error) == OperationStatus.Done, error);
        Assert.Equal((RasKind.GatekeeperConfirm, 1000, "GATEKEEPER", H225Types.ProtocolV5, 0), (m.Type, m.SequenceNumber, m.GatekeeperIdentifier, m.ProtocolIdentifier, m.AlternateGatekeepers));
        Assert.Equal(Gk, m.RasAddress!.EndPoint);
    }

    [Fact]
    public void Nmaps_afs_probe_reads_as_a_grq_head_with_sequence_1000()
    {
        var probe = Convert.FromHexString("000003E7000000000000006500000000000000000D0500000000000000000000");
        Assert.Equal(OperationStatus.InvalidData, RasCodec.TryDecode(probe, out var m, out var error));
        Assert.NotNull(error);
        Assert.Equal((RasKind.GatekeeperRequest, 1000), (m.Type, m.SequenceNumber));
    }

    [Fact]
    public void Reference_grq_and_rrq_decode()
    {
        Assert.True(RasCodec.TryDecode(Convert.FromHexString("000003E7060008914A000400C000020A06B70200"), out var grq, out var e1) == OperationStatus.Done, e1);
        Assert.Equal((RasKind.GatekeeperRequest, 1000, H225EndpointKind.Terminal), (grq.Type, grq.SequenceNumber, grq.EndpointKind));
        Assert.Equal(Ep, grq.RasAddress!.EndPoint);

        var rrq = Convert.FromHexString("0C0003E8060008914A0004800100C000020A06B80100C000020A06B70200B5000012");
        Assert.True(RasCodec.TryDecode(rrq, out var m, out var e2) == OperationStatus.Done, e2);
        Assert.Equal((RasKind.RegistrationRequest, 1001, true), (m.Type, m.SequenceNumber, m.DiscoveryComplete));
        Assert.Equal(new IPEndPoint(IPAddress.Parse("192.0.2.10"), 1720), m.CallSignalAddresses.Single().EndPoint);
        Assert.Equal("181/0/18", m.Vendor);
    }

    [Fact]
    public void Every_request_and_answer_round_trips()
    {
        var signal = new IPEndPoint(IPAddress.Parse("192.0.2.10"), 1720);
        var aliases = new[] { H225Alias.Digits("2001"), H225Alias.H323Id("gw1") };

        Decode(RasCodec.WriteGrq(7, Ep, aliases, "GATEKEEPER"), m =>
        {
            Assert.Equal((RasKind.GatekeeperRequest, 7, "GATEKEEPER"), (m.Type, m.SequenceNumber, m.GatekeeperIdentifier));
            Assert.Equal(aliases, m.Aliases);
        });
        Decode(RasCodec.WriteRrq(8, signal, Ep, aliases), m =>
        {
            Assert.Equal((RasKind.RegistrationRequest, H225EndpointKind.Gateway), (m.Type, m.EndpointKind));
            Assert.Equal(aliases, m.Aliases);
            Assert.StartsWith("181/0/18 cucmsim", m.Vendor, StringComparison.Ordinal);
        });
        Decode(RasCodec.WriteRcf(8, [signal], "GATEKEEPER", "EP1_8", 60), m => Assert.Equal(("EP1_8", signal), (m.EndpointIdentifier, m.CallSignalAddresses[0].EndPoint)));
        Decode(RasCodec.WriteRrj(8, "GATEKEEPER", RasReason.RrjInvalidAlias), m => Assert.Equal(RasReason.RrjInvalidAlias, m.Reason));
        Decode(RasCodec.WriteRrj(8, "GATEKEEPER", RasReason.RrjUndefinedReason), m => Assert.Equal(RasReason.RrjUndefinedReason, m.Reason));
        Decode(RasCodec.WriteGrj(9, "GATEKEEPER", RasReason.GrjUndefinedReason), m => Assert.Equal((RasKind.GatekeeperReject, 3), (m.Type, m.Reason)));
        Decode(RasCodec.WriteLrq(10, H225Alias.Digits("1000"), Ep), m =>
        {
            Assert.Equal("1000", m.DestinationInfo.Single().Value);
            Assert.Equal(Ep, m.ReplyAddress!.EndPoint);
        });
        Decode(RasCodec.WriteLcf(10, signal, Gk), m => Assert.Equal((signal, Gk), (m.CallSignalAddress!.EndPoint, m.RasAddress!.EndPoint)));
        Decode(RasCodec.WriteLrj(11, RasReason.LrjRequestDenied), m => Assert.Equal((RasKind.LocationReject, 2), (m.Type, m.Reason)));
        Decode(RasCodec.WriteUrq(12, signal, "EP1_8"), m => Assert.Equal("EP1_8", m.EndpointIdentifier));
        Decode(RasCodec.WriteUcf(12), m => Assert.Equal(RasKind.UnregistrationConfirm, m.Type));
        Decode(RasCodec.WriteArj(13, RasReason.ArjRequestDenied), m => Assert.Equal(RasKind.AdmissionReject, m.Type));
        Decode(RasCodec.WriteDrj(14, RasReason.DrjNotRegistered), m => Assert.Equal(RasKind.DisengageReject, m.Type));
        Decode(RasCodec.WriteXrs(15, [1, 2, 3]), m =>
        {
            Assert.Equal((RasKind.UnknownMessageResponse, 15), (m.Type, m.SequenceNumber));
            Assert.Equal([1, 2, 3], m.NotUnderstood!);
        });

        var v6 = new IPEndPoint(IPAddress.Parse("2001:db8::1"), 1720);
        Decode(RasCodec.WriteLcf(16, v6, Gk), m => Assert.Equal(v6, m.CallSignalAddress!.EndPoint));

        static void Decode(byte[] bytes, Action<RasMessage> check)
        {
            Assert.True(RasCodec.TryDecode(bytes, out var m, out var error) == OperationStatus.Done, error);
            check(m);
        }
    }

    [Fact]
    public void Reference_release_complete_decodes_and_ours_reads_back_across_every_split()
    {
        var frame = Convert.FromHexString(ReleaseCompleteV4);
        var reader = new SequenceReader<byte>(Segments.Of(frame));
        Assert.Equal(OperationStatus.Done, Tpkt.TryRead(ref reader, out var payload));
        Assert.True(Q931Codec.TryDecode(payload, out var m, out var error) == OperationStatus.Done, error);
        Assert.Equal((Q931Type.ReleaseComplete, (ushort)1, true, 16), (m!.Type, m.CallReference, m.FromDestination, m.Cause));
        Assert.Equal((UuieBody.ReleaseComplete, ReleaseReason.UndefinedReason), (m.Uuie!.Body, m.Uuie.ReleaseReason));

        var connect = Q931Codec.Encode(new Q931Message { Type = Q931Type.Connect, CallReference = 0x1234, FromDestination = true },
            UuieCodec.WriteConnect(new IPEndPoint(IPAddress.Parse("192.0.2.1"), 24580), Guid16, Guid16, "Cisco CallManager", "14.0"));
        foreach (var sequence in Segments.AllSplits(connect).Append(Segments.ByteAtATime(connect)))
        {
            var r = new SequenceReader<byte>(sequence);
            Assert.Equal(OperationStatus.Done, Tpkt.TryRead(ref r, out var p));
            Assert.True(r.End);
            Assert.True(Q931Codec.TryDecode(p, out var c, out var e) == OperationStatus.Done, e);
            Assert.Null(c!.UuieError);
            Assert.Equal((UuieBody.Connect, "192.0.2.1:24580"), (c.Uuie!.Body, c.Uuie.H245Address!.ToString()));
            Assert.Equal(Guid16, c.Uuie.CallIdentifier);
            Assert.Equal(false, c.Uuie.H245Tunnelling);
        }
    }

    [Fact]
    public void Every_call_signalling_message_round_trips()
    {
        var setup = Q931Codec.Encode(
            new Q931Message { Type = Q931Type.Setup, CallReference = 77, BearerCapability = true, CalledNumber = "1000", CallingNumber = "2001", Display = "cucmsim" },
            UuieCodec.WriteSetup([H225Alias.Digits("2001")], [H225Alias.Digits("1000"), H225Alias.H323Id("cucm")], Guid16, Guid16));
        var m = Decode(setup);
        Assert.Equal(("1000", "2001", "cucmsim", true), (m.CalledNumber, m.CallingNumber, m.Display, m.BearerCapability));
        Assert.Equal((UuieBody.Setup, H225EndpointKind.Gateway), (m.Uuie!.Body, m.Uuie.EndpointKind));
        Assert.Equal(["1000", "cucm"], m.Uuie.DestinationAddress.Select(a => a.Value));
        Assert.Equal(Guid16, m.Uuie.ConferenceId);
        Assert.Equal(Guid16, m.Uuie.CallIdentifier);

        foreach (var body in new[] { UuieBody.CallProceeding, UuieBody.Alerting })
        {
            var p = Decode(Q931Codec.Encode(new Q931Message { Type = Q931Type.CallProceeding, CallReference = 77, FromDestination = true }, UuieCodec.WriteProceeding(body, Guid16, "Cisco CallManager", "14")));
            Assert.Equal(body, p.Uuie!.Body);
            Assert.Equal(Guid16, p.Uuie.CallIdentifier);
        }

        var release = Decode(Q931Codec.Encode(new Q931Message { Type = Q931Type.ReleaseComplete, Cause = Q931Cause.UnallocatedNumber }, UuieCodec.WriteReleaseComplete(ReleaseReason.BadFormatAddress + 10, Guid16)));
        Assert.Equal((1, 18), (release.Cause, release.Uuie!.ReleaseReason));

        foreach (var body in new[] { UuieBody.Status, UuieBody.StatusInquiry })
        {
            var s = Decode(Q931Codec.Encode(new Q931Message { Type = Q931Type.Status, Cause = 30, CallState = 10 }, UuieCodec.WriteStatus(body, Guid16)));
            Assert.Equal((body, 30, 10), (s.Uuie!.Body, s.Cause, s.CallState));
            Assert.Equal(Guid16, s.Uuie.CallIdentifier);
        }

        static Q931Message Decode(byte[] frame)
        {
            var r = new SequenceReader<byte>(new ReadOnlySequence<byte>(frame));
            Assert.Equal(OperationStatus.Done, Tpkt.TryRead(ref r, out var payload));
            Assert.True(Q931Codec.TryDecode(payload, out var m, out var error) == OperationStatus.Done, error);
            Assert.Null(m!.UuieError);
            return m;
        }
    }

    [Fact]
    public void Truncated_tpkt_needs_more_and_wrong_or_oversized_ones_are_invalid()
    {
        var frame = Convert.FromHexString(ReleaseCompleteV4);
        for (var i = 0; i < frame.Length; i++)
        {
            var r = new SequenceReader<byte>(Segments.Of(frame[..(i / 2)], frame[(i / 2)..i]));
            Assert.Equal(OperationStatus.NeedMoreData, Tpkt.TryRead(ref r, out _));
            Assert.Equal(0, r.Consumed);
        }

        foreach (var hex in new[] { "04000010", "03000003", "0300FFFF" })
        {
            var r = new SequenceReader<byte>(Segments.Of(Convert.FromHexString(hex)));
            Assert.Equal(OperationStatus.InvalidData, Tpkt.TryRead(ref r, out _));
        }
    }

    [Fact]
    public void Truncated_ras_and_uuie_are_invalid_never_a_crash()
    {
        var messages = new[]
        {
            RasCodec.WriteGcf(1, "GATEKEEPER", Gk), RasCodec.WriteRrq(2, Ep, Ep, [H225Alias.Digits("1")]), RasCodec.WriteLrq(3, H225Alias.Digits("1000"), Ep),
            RasCodec.WriteRcf(4, [Ep], "GK", "EP", 60), RasCodec.WriteXrs(5, new byte[40]),
        };
        foreach (var bytes in messages)
        {
            for (var i = 0; i < bytes.Length; i++)
            {
                Assert.Equal(OperationStatus.InvalidData, RasCodec.TryDecode(bytes.AsSpan(0, i), out _, out _));
            }

            Assert.Equal(OperationStatus.InvalidData, RasCodec.TryDecode([.. bytes, 0], out _, out _));
        }

        var connect = UuieCodec.WriteConnect(Gk, Guid16, Guid16, "x", "y");
        for (var i = 0; i < connect.Length; i++)
        {
            Assert.Equal(OperationStatus.InvalidData, UuieCodec.TryDecode(connect.AsSpan(0, i), out _, out _));
        }

        Assert.Equal(OperationStatus.InvalidData, RasCodec.TryDecode(new byte[RasCodec.MaxMessageSize + 1], out _, out _));
    }

    [Fact]
    public void Random_and_mutated_input_never_throws()
    {
        var ras = new[] { RasCodec.WriteGcf(1, "GATEKEEPER", Gk), RasCodec.WriteRrq(2, Ep, Ep, [H225Alias.Digits("1")]), RasCodec.WriteLrq(3, H225Alias.Digits("1000"), Ep) };
        foreach (var bytes in Fuzz.RandomAndMutated(1719, 20_000, 200, ras))
        {
            RasCodec.TryDecode(bytes, out _, out _);
        }

        var signalling = new[]
        {
            Q931Codec.Encode(new Q931Message { Type = Q931Type.Setup, CalledNumber = "1000", BearerCapability = true }, UuieCodec.WriteSetup([], [H225Alias.Digits("1000")], Guid16, Guid16))[4..],
            Q931Codec.Encode(new Q931Message { Type = Q931Type.Connect }, UuieCodec.WriteConnect(Gk, Guid16, Guid16, "x", "y"))[4..],
        };
        foreach (var bytes in Fuzz.RandomAndMutated(1720, 20_000, 300, signalling))
        {
            Q931Codec.TryDecode(bytes, out _, out _);
            var r = new SequenceReader<byte>(Segments.Of(bytes));
            Tpkt.TryRead(ref r, out _);
        }
    }
}
