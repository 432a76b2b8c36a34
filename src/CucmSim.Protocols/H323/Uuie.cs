using System.Buffers;
using System.Net;

namespace CucmSim.Protocols.H323;

/// <summary>The h323-message-body alternatives (root 0-6, then the extension alternatives from 7).</summary>
public enum UuieBody
{
    Setup = 0,
    CallProceeding = 1,
    Connect = 2,
    Alerting = 3,
    Information = 4,
    ReleaseComplete = 5,
    Facility = 6,
    Progress = 7,
    Empty = 8,
    Status = 9,
    StatusInquiry = 10,
    SetupAcknowledge = 11,
    Notify = 12,
}

/// <summary>The H323-UserInformation of a call signalling message: the fields this emulator reads and writes.</summary>
public sealed record H225Uuie
{
    public required UuieBody Body { get; init; }
    public string? ProtocolIdentifier { get; init; }
    public H225TransportAddress? H245Address { get; init; }
    public H225TransportAddress? DestCallSignalAddress { get; init; }
    public IReadOnlyList<H225Alias> SourceAddress { get; init; } = [];
    public IReadOnlyList<H225Alias> DestinationAddress { get; init; } = [];
    public H225EndpointKind? EndpointKind { get; init; }
    public string? Vendor { get; init; }
    public byte[]? ConferenceId { get; init; }
    public byte[]? CallIdentifier { get; init; }

    /// <summary>ReleaseComplete: the reason's alternative (root index, or 12 plus the extension index).</summary>
    public int? ReleaseReason { get; init; }

    public bool? H245Tunnelling { get; init; }
}

/// <summary>ReleaseCompleteReason alternatives this emulator sends.</summary>
public static class ReleaseReason
{
    public const int NoBandwidth = 0;
    public const int UnreachableDestination = 2;
    public const int DestinationRejection = 3;
    public const int GatewayResources = 7;
    public const int BadFormatAddress = 8;
    public const int UndefinedReason = 11;

    /// <summary>Root alternatives of ReleaseCompleteReason.</summary>
    public const int RootCount = 12;
}

/// <summary>
/// H323-UserInformation (H.225.0 §7.6) in aligned PER: Setup, CallProceeding, Alerting, Connect, ReleaseComplete,
/// Status and StatusInquiry are read and written; other bodies are named only. Extension additions this codec does
/// not use are skipped by their open-type lengths.
/// </summary>
public static class UuieCodec
{
    public static OperationStatus TryDecode(ReadOnlySpan<byte> data, out H225Uuie? uuie, out string? error)
    {
        uuie = null;
        error = null;
        if (data.Length > Tpkt.DefaultMaxLength)
        {
            error = "user-user information too long";
            return OperationStatus.InvalidData;
        }

        var r = new PerReader(data);
        try
        {
            var infoExtended = r.ReadBit();
            var hasUserData = r.ReadBit();
            var pduExtended = r.ReadBit();
            var hasNonStandard = r.ReadBit();
            H225Uuie body;
            var complete = true;
            if (r.ReadBit())
            {
                var index = 7 + r.ReadSmall();
                var content = r.ReadOpenType();
                var inner = new PerReader(content);
                body = index is (int)UuieBody.Status or (int)UuieBody.StatusInquiry
                    ? ReadStatus(ref inner, (UuieBody)index)
                    : new H225Uuie { Body = (UuieBody)Math.Min(index, 99) };
            }
            else
            {
                var index = (UuieBody)r.ReadBits(3);
                body = index switch
                {
                    UuieBody.Setup => ReadSetup(ref r, data),
                    UuieBody.CallProceeding or UuieBody.Alerting => ReadProceeding(ref r, index, data),
                    UuieBody.Connect => ReadConnect(ref r, data),
                    UuieBody.ReleaseComplete => ReadReleaseComplete(ref r, data),
                    _ => new H225Uuie { Body = index },
                };
                complete = index is UuieBody.Setup or UuieBody.CallProceeding or UuieBody.Alerting or UuieBody.Connect or UuieBody.ReleaseComplete;
            }

            if (complete)
            {
                if (hasNonStandard)
                {
                    H225Types.SkipNonStandardParameter(ref r);
                }

                if (pduExtended)
                {
                    var additions = r.ReadExtensions();
                    if (additions.Has(1))
                    {
                        var inner = new PerReader(additions.Content(data, 1));
                        body = body with { H245Tunnelling = inner.ReadBoolean() };
                    }
                }

                if (hasUserData)
                {
                    var extended = r.ReadBit();
                    r.ReadConstrained(0, 255);
                    r.ReadOctets(r.ReadConstrainedLength(1, 131));
                    r.SkipExtensions(extended);
                }

                r.SkipExtensions(infoExtended);
                if (r.OctetsUsed != data.Length)
                {
                    throw new PerException("trailing octets");
                }
            }

            uuie = body;
            return OperationStatus.Done;
        }
        catch (Exception ex) when (ex is PerException or ArgumentException)
        {
            error = ex.Message;
            return OperationStatus.InvalidData;
        }
    }

    private static H225Uuie ReadSetup(ref PerReader r, ReadOnlySpan<byte> data)
    {
        var extended = r.ReadBit();
        var optional = r.ReadBits(7);
        var protocol = r.ReadObjectIdentifier();
        H225TransportAddress? h245 = (optional & 0x40) != 0 ? H225Types.ReadTransportAddress(ref r) : null;
        var source = (optional & 0x20) != 0 ? H225Types.ReadAliases(ref r) : [];
        var (kind, vendor) = H225Types.ReadEndpointType(ref r);
        var destination = (optional & 0x10) != 0 ? H225Types.ReadAliases(ref r) : [];
        H225TransportAddress? destSignal = (optional & 0x08) != 0 ? H225Types.ReadTransportAddress(ref r) : null;
        if ((optional & 0x04) != 0)
        {
            H225Types.ReadAliases(ref r);
        }

        if ((optional & 0x02) != 0)
        {
            var n = r.ReadCount();
            for (var i = 0; i < n; i++)
            {
                r.ReadConstrained(0, 65535);
            }
        }

        r.ReadBoolean();
        var conference = H225Types.ReadGuid(ref r);
        SkipNullChoice(ref r, 3);
        if ((optional & 0x01) != 0)
        {
            var qExtended = r.ReadBit();
            r.ReadBits(7);
            var q954Extended = r.ReadBit();
            r.ReadBits(2);
            r.SkipExtensions(q954Extended);
            r.SkipExtensions(qExtended);
        }

        SkipNullChoice(ref r, 4);
        var callId = Additions(ref r, extended, data, 2);
        return new H225Uuie
        {
            Body = UuieBody.Setup, ProtocolIdentifier = protocol, H245Address = h245, SourceAddress = source, EndpointKind = kind, Vendor = vendor,
            DestinationAddress = destination, DestCallSignalAddress = destSignal, ConferenceId = conference, CallIdentifier = callId,
        };
    }

    private static H225Uuie ReadProceeding(ref PerReader r, UuieBody body, ReadOnlySpan<byte> data)
    {
        var extended = r.ReadBit();
        var hasH245 = r.ReadBit();
        var protocol = r.ReadObjectIdentifier();
        var (kind, vendor) = H225Types.ReadEndpointType(ref r);
        H225TransportAddress? h245 = hasH245 ? H225Types.ReadTransportAddress(ref r) : null;
        var callId = Additions(ref r, extended, data, 0);
        return new H225Uuie { Body = body, ProtocolIdentifier = protocol, EndpointKind = kind, Vendor = vendor, H245Address = h245, CallIdentifier = callId };
    }

    private static H225Uuie ReadConnect(ref PerReader r, ReadOnlySpan<byte> data)
    {
        var extended = r.ReadBit();
        var hasH245 = r.ReadBit();
        var protocol = r.ReadObjectIdentifier();
        H225TransportAddress? h245 = hasH245 ? H225Types.ReadTransportAddress(ref r) : null;
        var (kind, vendor) = H225Types.ReadEndpointType(ref r);
        var conference = H225Types.ReadGuid(ref r);
        var callId = Additions(ref r, extended, data, 0);
        return new H225Uuie { Body = UuieBody.Connect, ProtocolIdentifier = protocol, H245Address = h245, EndpointKind = kind, Vendor = vendor, ConferenceId = conference, CallIdentifier = callId };
    }

    private static H225Uuie ReadReleaseComplete(ref PerReader r, ReadOnlySpan<byte> data)
    {
        var extended = r.ReadBit();
        var hasReason = r.ReadBit();
        var protocol = r.ReadObjectIdentifier();
        int? reason = null;
        if (hasReason)
        {
            if (r.ReadBit())
            {
                reason = ReleaseReason.RootCount + r.ReadSmall();
                r.ReadOpenType();
            }
            else
            {
                reason = (int)r.ReadBits(4);
                if (reason >= ReleaseReason.RootCount)
                {
                    throw new PerException("ReleaseCompleteReason alternative");
                }
            }
        }

        var callId = Additions(ref r, extended, data, 0);
        return new H225Uuie { Body = UuieBody.ReleaseComplete, ProtocolIdentifier = protocol, ReleaseReason = reason, CallIdentifier = callId };
    }

    private static H225Uuie ReadStatus(ref PerReader r, UuieBody body)
    {
        var extended = r.ReadBit();
        var optional = r.ReadBits(2);
        var protocol = r.ReadObjectIdentifier();
        var callId = H225Types.ReadCallIdentifier(ref r);
        if (optional != 0)
        {
            // Tokens are not read by this emulator: the rest of the open type is passed over with it.
            return new H225Uuie { Body = body, ProtocolIdentifier = protocol, CallIdentifier = callId };
        }

        r.SkipExtensions(extended);
        return new H225Uuie { Body = body, ProtocolIdentifier = protocol, CallIdentifier = callId };
    }

    /// <summary>Reads a body's extension additions; returns the CallIdentifier at <paramref name="callIdIndex"/> when present.</summary>
    private static byte[]? Additions(ref PerReader r, bool extended, ReadOnlySpan<byte> data, int callIdIndex)
    {
        if (!extended)
        {
            return null;
        }

        var additions = r.ReadExtensions();
        if (!additions.Has(callIdIndex))
        {
            return null;
        }

        var inner = new PerReader(additions.Content(data, callIdIndex));
        return H225Types.ReadCallIdentifier(ref inner);
    }

    private static void SkipNullChoice(ref PerReader r, int rootCount)
    {
        if (r.ReadBit())
        {
            r.ReadSmall();
            r.ReadOpenType();
        }
        else if (r.ReadBits(PerReader.BitsFor(rootCount)) >= rootCount)
        {
            throw new PerException("choice index");
        }
    }

    // ---- writing ----

    /// <summary>
    /// The common frame: H323-UserInformation without user-data, H323-UU-PDU with h245Tunnelling FALSE (the only
    /// extension addition written), the body as given.
    /// </summary>
    private static byte[] Frame(UuieBody body, Action<PerWriter> write)
    {
        var w = new PerWriter();
        w.WriteBit(false);
        w.WriteBit(false);
        w.WriteBit(true);
        w.WriteBit(false);
        if (body < UuieBody.Progress)
        {
            w.WriteBit(false);
            w.WriteBits((uint)body, 3);
            write(w);
        }
        else
        {
            w.WriteBit(true);
            w.WriteSmall(body - UuieBody.Progress);
            w.WriteOpenType(write);
        }

        w.WriteExtensions(2, new Dictionary<int, Action<PerWriter>> { [1] = x => x.WriteBit(false) });
        return w.ToArray();
    }

    /// <summary>The v2+ additions of CallProceeding, Alerting and Connect: callIdentifier, multipleCalls and maintainConnection FALSE.</summary>
    private static void ResponseAdditions(PerWriter w, byte[] callId) =>
        w.WriteExtensions(7, new Dictionary<int, Action<PerWriter>>
        {
            [0] = x => H225Types.WriteCallIdentifier(x, callId),
            [5] = x => x.WriteBit(false),
            [6] = x => x.WriteBit(false),
        });

    public static byte[] WriteSetup(IReadOnlyList<H225Alias> source, IReadOnlyList<H225Alias> destination, byte[] conferenceId, byte[] callId)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(destination);
        return Frame(UuieBody.Setup, w =>
        {
            w.WriteBit(true);
            w.WriteBits((source.Count > 0 ? 0x20u : 0) | (destination.Count > 0 ? 0x10u : 0), 7);
            w.WriteObjectIdentifier(H225Types.ProtocolV5);
            if (source.Count > 0)
            {
                H225Types.WriteAliases(w, source);
            }

            H225Types.WriteEndpointType(w, H225EndpointKind.Gateway, "cucmsim");
            if (destination.Count > 0)
            {
                H225Types.WriteAliases(w, destination);
            }

            w.WriteBit(false);
            w.WriteOctets(conferenceId);
            w.WriteBit(false);
            w.WriteBits(0, 2);
            w.WriteBit(false);
            w.WriteBits(0, 2);

            // Additions: callIdentifier (2), mediaWaitForConnect (7), canOverlapSend (8), multipleCalls (10), maintainConnection (11).
            w.WriteExtensions(12, new Dictionary<int, Action<PerWriter>>
            {
                [2] = x => H225Types.WriteCallIdentifier(x, callId),
                [7] = x => x.WriteBit(false),
                [8] = x => x.WriteBit(false),
                [10] = x => x.WriteBit(false),
                [11] = x => x.WriteBit(false),
            });
        });
    }

    /// <summary>CallProceeding or Alerting from a gateway-like CUCM, without an H.245 address.</summary>
    public static byte[] WriteProceeding(UuieBody body, byte[] callId, string product, string version) => Frame(body, w =>
    {
        w.WriteBit(true);
        w.WriteBit(false);
        w.WriteObjectIdentifier(H225Types.ProtocolV5);
        H225Types.WriteEndpointType(w, H225EndpointKind.Gateway, product, version);
        ResponseAdditions(w, callId);
    });

    /// <summary>Connect with the H.245 address the caller is to open (what inspection reads to open that pinhole).</summary>
    public static byte[] WriteConnect(IPEndPoint h245Address, byte[] conferenceId, byte[] callId, string product, string version) => Frame(UuieBody.Connect, w =>
    {
        w.WriteBit(true);
        w.WriteBit(true);
        w.WriteObjectIdentifier(H225Types.ProtocolV5);
        H225Types.WriteTransportAddress(w, h245Address);
        H225Types.WriteEndpointType(w, H225EndpointKind.Gateway, product, version);
        w.WriteOctets(conferenceId);
        ResponseAdditions(w, callId);
    });

    public static byte[] WriteReleaseComplete(int reason, byte[]? callId) => Frame(UuieBody.ReleaseComplete, w =>
    {
        w.WriteBit(callId is not null);
        w.WriteBit(true);
        w.WriteObjectIdentifier(H225Types.ProtocolV5);
        if (reason < ReleaseReason.RootCount)
        {
            w.WriteBit(false);
            w.WriteBits((uint)reason, 4);
        }
        else
        {
            w.WriteBit(true);
            w.WriteSmall(reason - ReleaseReason.RootCount);
            w.WriteOpenType(_ => { });
        }

        if (callId is not null)
        {
            w.WriteExtensions(1, new Dictionary<int, Action<PerWriter>> { [0] = x => H225Types.WriteCallIdentifier(x, callId) });
        }
    });

    /// <summary>Status or StatusInquiry: the protocol and the call identifier.</summary>
    public static byte[] WriteStatus(UuieBody body, byte[] callId) => Frame(body, w =>
    {
        w.WriteBit(false);
        w.WriteBits(0, 2);
        w.WriteObjectIdentifier(H225Types.ProtocolV5);
        H225Types.WriteCallIdentifier(w, callId);
    });
}
