using System.Buffers;
using System.Net;

namespace CucmSim.Protocols.H323;

/// <summary>The root alternatives of RasMessage (H.225.0 §7); extension alternatives follow from 25.</summary>
public enum RasKind
{
    GatekeeperRequest = 0,
    GatekeeperConfirm = 1,
    GatekeeperReject = 2,
    RegistrationRequest = 3,
    RegistrationConfirm = 4,
    RegistrationReject = 5,
    UnregistrationRequest = 6,
    UnregistrationConfirm = 7,
    UnregistrationReject = 8,
    AdmissionRequest = 9,
    AdmissionConfirm = 10,
    AdmissionReject = 11,
    BandwidthRequest = 12,
    BandwidthConfirm = 13,
    BandwidthReject = 14,
    DisengageRequest = 15,
    DisengageConfirm = 16,
    DisengageReject = 17,
    LocationRequest = 18,
    LocationConfirm = 19,
    LocationReject = 20,
    InfoRequest = 21,
    InfoRequestResponse = 22,
    NonStandardMessage = 23,
    UnknownMessageResponse = 24,

    /// <summary>The first extension alternative (requestInProgress); later ones count up from here.</summary>
    RequestInProgress = 25,
}

/// <summary>Reject reasons this emulator sends (root indexes, or the root count plus the extension index).</summary>
public static class RasReason
{
    public const int GrjUndefinedReason = 3;
    public const int RrjUndefinedReason = 6;

    /// <summary>RegistrationRejectReason extension invalidAlias: "alias not consistent with gatekeeper rules".</summary>
    public const int RrjInvalidAlias = 8 + 2;
    public const int LrjRequestDenied = 2;
    public const int ArjRequestDenied = 2;
    public const int DrjNotRegistered = 0;
}

/// <summary>
/// One RAS message, the fields this emulator reads and writes. What a message type does not carry stays null or
/// empty; <see cref="SequenceNumber"/> is 0 when not even that could be read.
/// </summary>
public sealed record RasMessage
{
    public required int Kind { get; init; }
    public int SequenceNumber { get; init; }
    public string? ProtocolIdentifier { get; init; }
    public H225TransportAddress? RasAddress { get; init; }
    public H225TransportAddress? ReplyAddress { get; init; }
    public H225TransportAddress? CallSignalAddress { get; init; }
    public IReadOnlyList<H225TransportAddress> CallSignalAddresses { get; init; } = [];
    public IReadOnlyList<H225TransportAddress> RasAddresses { get; init; } = [];
    public IReadOnlyList<H225Alias> Aliases { get; init; } = [];
    public IReadOnlyList<H225Alias> DestinationInfo { get; init; } = [];
    public string? GatekeeperIdentifier { get; init; }
    public string? EndpointIdentifier { get; init; }
    public H225EndpointKind? EndpointKind { get; init; }
    public string? Vendor { get; init; }
    public bool DiscoveryComplete { get; init; }

    /// <summary>The reject reason's alternative (root index, or root count plus extension index).</summary>
    public int? Reason { get; init; }

    /// <summary>XRS: the message the peer did not understand.</summary>
    public byte[]? NotUnderstood { get; init; }

    /// <summary>GCF: the number of alternate gatekeepers named (CUCM sends an empty list).</summary>
    public int? AlternateGatekeepers { get; init; }

    public RasKind Type => (RasKind)Math.Min(Kind, (int)RasKind.RequestInProgress);

    public string Name => Names.Length > Kind ? Names[Kind] : "extension" + (Kind - 25);

    private static readonly string[] Names =
    [
        "GRQ", "GCF", "GRJ", "RRQ", "RCF", "RRJ", "URQ", "UCF", "URJ", "ARQ", "ACF", "ARJ", "BRQ", "BCF", "BRJ",
        "DRQ", "DCF", "DRJ", "LRQ", "LCF", "LRJ", "IRQ", "IRR", "NonStandardMessage", "XRS", "RIP", "RAI", "RAC",
        "IACK", "INAK", "SCI", "SCR", "ACFSequence",
    ];
}

/// <summary>
/// RAS (H.225.0 §7, UDP 1719) in aligned PER: GRQ, RRQ, LRQ, URQ and their confirms and rejects, ARJ, DRJ and
/// XRS. Requests of other kinds are read as far as their sequence number, which is all an XRS or reject needs.
/// </summary>
public static class RasCodec
{
    /// <summary>Largest RAS datagram accepted (an RRQ with many aliases stays far below).</summary>
    public const int MaxMessageSize = 4096;

    /// <summary>How much of a message an XRS quotes back.</summary>
    public const int MaxNotUnderstood = 512;

    private const int RootAlternatives = 25;

    /// <summary>
    /// Decodes one datagram. On InvalidData the message still says what was read: the kind and the sequence number
    /// when the head was sound (what a gatekeeper answers by), with <paramref name="error"/> naming the fault.
    /// </summary>
    public static OperationStatus TryDecode(ReadOnlySpan<byte> data, out RasMessage message, out string? error)
    {
        message = new RasMessage { Kind = -1 };
        error = null;
        if (data.Length > MaxMessageSize)
        {
            error = "datagram larger than " + MaxMessageSize;
            return OperationStatus.InvalidData;
        }

        var r = new PerReader(data);
        int kind;
        int seq = 0;
        try
        {
            kind = r.ReadBit() ? RootAlternatives + r.ReadSmall() : (int)r.ReadBits(5);
            if (kind >= RootAlternatives)
            {
                // An extension alternative is an open type; most of them begin with the sequence number too.
                var content = r.ReadOpenType();
                var inner = new PerReader(content);
                message = new RasMessage { Kind = kind };
                if (kind != (int)RasKind.RequestInProgress + 7)
                {
                    inner.ReadBit();
                    inner.ReadBits(OptionalCount(kind));
                    seq = (int)inner.ReadConstrained(1, 65535);
                }

                message = message with { SequenceNumber = seq };
                return OperationStatus.Done;
            }

            if (kind > (int)RasKind.UnknownMessageResponse)
            {
                throw new PerException("RasMessage alternative");
            }

            message = new RasMessage { Kind = kind };
            var extended = r.ReadBit();
            var optional = r.ReadBits(OptionalCount(kind));
            if (kind != (int)RasKind.InfoRequestResponse)
            {
                seq = (int)r.ReadConstrained(1, 65535);
                message = message with { SequenceNumber = seq };
            }

            message = (RasKind)kind switch
            {
                RasKind.GatekeeperRequest => ReadGrq(ref r, message, optional),
                RasKind.GatekeeperConfirm => ReadGcf(ref r, message, optional, extended, data),
                RasKind.GatekeeperReject => ReadGrj(ref r, message, optional),
                RasKind.RegistrationRequest => ReadRrq(ref r, message, optional),
                RasKind.RegistrationConfirm => ReadRcf(ref r, message, optional),
                RasKind.RegistrationReject => ReadRrj(ref r, message, optional),
                RasKind.UnregistrationRequest => ReadUrq(ref r, message, optional),
                RasKind.LocationRequest => ReadLrq(ref r, message, optional),
                RasKind.LocationConfirm => ReadLcf(ref r, message, optional),
                RasKind.UnregistrationConfirm => SkipNonStandard(ref r, message, optional, 1),
                RasKind.UnregistrationReject => ReadReasonThenNonStandard(ref r, message, optional, 3),
                RasKind.LocationReject => ReadReasonThenNonStandard(ref r, message, optional, 4),
                RasKind.AdmissionReject => ReadReasonThenNonStandard(ref r, message, optional, 8),
                RasKind.DisengageReject => ReadReasonThenNonStandard(ref r, message, optional, 2),
                RasKind.UnknownMessageResponse => ReadXrs(ref r, message, extended, data),
                _ => message,
            };
            if (FullyRead(kind))
            {
                // What follows can only be extension additions (GCF and XRS read theirs), then nothing.
                if (kind is not ((int)RasKind.GatekeeperConfirm or (int)RasKind.UnknownMessageResponse))
                {
                    r.SkipExtensions(extended);
                }

                if (r.OctetsUsed != data.Length)
                {
                    throw new PerException("trailing octets");
                }
            }

            return OperationStatus.Done;
        }
        catch (PerException ex)
        {
            error = ex.Message;
            return OperationStatus.InvalidData;
        }
        catch (ArgumentException ex)
        {
            error = ex.Message;
            return OperationStatus.InvalidData;
        }
    }

    /// <summary>The kinds whose root this codec reads to the end (the others are read as far as their sequence number).</summary>
    private static bool FullyRead(int kind) =>
        kind is <= (int)RasKind.UnregistrationReject or (int)RasKind.AdmissionReject or (int)RasKind.DisengageReject
            or >= (int)RasKind.LocationRequest and <= (int)RasKind.LocationReject or (int)RasKind.UnknownMessageResponse;

    /// <summary>Optional root components of each message (the presence bitmap's length, X.691 §19.2).</summary>
    private static int OptionalCount(int kind) => kind switch
    {
        0 => 4, // GRQ: nonStandardData, gatekeeperIdentifier, callServices, endpointAlias
        1 => 2, // GCF: nonStandardData, gatekeeperIdentifier
        2 => 2,
        3 => 3, // RRQ: nonStandardData, terminalAlias, gatekeeperIdentifier
        4 => 3, // RCF: nonStandardData, terminalAlias, gatekeeperIdentifier
        5 => 2,
        6 => 3, // URQ: endpointAlias, nonStandardData, endpointIdentifier
        7 => 1,
        8 => 1,
        9 => 7, // ARQ: callModel, destinationInfo, destCallSignalAddress, destExtraCallInfo, srcCallSignalAddress, nonStandardData, callServices
        10 => 2,
        11 => 1,
        12 => 2,
        13 => 1,
        14 => 1,
        15 => 1,
        16 => 1,
        17 => 1,
        18 => 2, // LRQ: endpointIdentifier, nonStandardData
        19 => 1,
        20 => 1,
        21 => 2,
        22 => 2,
        23 => 0,
        24 => 0,
        25 => 4, // RIP
        26 => 4, // RAI
        27 => 4, // RAC
        28 => 4, // IACK
        29 => 5, // INAK
        30 => 8, // SCI
        31 => 7, // SCR
        _ => 0,
    };

    private static RasMessage ReadGrq(ref PerReader r, RasMessage m, uint optional)
    {
        var protocol = r.ReadObjectIdentifier();
        if ((optional & 8) != 0)
        {
            H225Types.SkipNonStandardParameter(ref r);
        }

        var ras = H225Types.ReadTransportAddress(ref r);
        var (kind, vendor) = H225Types.ReadEndpointType(ref r);
        string? gk = null;
        if ((optional & 4) != 0)
        {
            gk = r.ReadBmpString(1, 128);
        }

        if ((optional & 2) != 0)
        {
            SkipQseriesOptions(ref r);
        }

        var aliases = (optional & 1) != 0 ? H225Types.ReadAliases(ref r) : [];
        return m with { ProtocolIdentifier = protocol, RasAddress = ras, EndpointKind = kind, Vendor = vendor, GatekeeperIdentifier = gk, Aliases = aliases };
    }

    private static RasMessage ReadGcf(ref PerReader r, RasMessage m, uint optional, bool extended, ReadOnlySpan<byte> data)
    {
        var protocol = r.ReadObjectIdentifier();
        if ((optional & 2) != 0)
        {
            H225Types.SkipNonStandardParameter(ref r);
        }

        string? gk = (optional & 1) != 0 ? r.ReadBmpString(1, 128) : null;
        var ras = H225Types.ReadTransportAddress(ref r);
        int? alternates = null;
        if (extended)
        {
            var additions = r.ReadExtensions();
            if (additions.Has(0))
            {
                var inner = new PerReader(additions.Content(data, 0));
                alternates = inner.ReadCount();
            }
        }

        return m with { ProtocolIdentifier = protocol, GatekeeperIdentifier = gk, RasAddress = ras, AlternateGatekeepers = alternates };
    }

    private static RasMessage ReadGrj(ref PerReader r, RasMessage m, uint optional)
    {
        var protocol = r.ReadObjectIdentifier();
        if ((optional & 2) != 0)
        {
            H225Types.SkipNonStandardParameter(ref r);
        }

        string? gk = (optional & 1) != 0 ? r.ReadBmpString(1, 128) : null;
        return m with { ProtocolIdentifier = protocol, GatekeeperIdentifier = gk, Reason = ReadNullChoice(ref r, 4) };
    }

    private static RasMessage ReadRrq(ref PerReader r, RasMessage m, uint optional)
    {
        var protocol = r.ReadObjectIdentifier();
        if ((optional & 4) != 0)
        {
            H225Types.SkipNonStandardParameter(ref r);
        }

        var discovery = r.ReadBoolean();
        var signal = H225Types.ReadTransportAddresses(ref r);
        var ras = H225Types.ReadTransportAddresses(ref r);
        var (kind, _) = H225Types.ReadEndpointType(ref r);
        var aliases = (optional & 2) != 0 ? H225Types.ReadAliases(ref r) : [];
        string? gk = (optional & 1) != 0 ? r.ReadBmpString(1, 128) : null;
        var vendor = H225Types.ReadVendor(ref r);
        return m with
        {
            ProtocolIdentifier = protocol, DiscoveryComplete = discovery, CallSignalAddresses = signal, RasAddresses = ras, EndpointKind = kind,
            Aliases = aliases, GatekeeperIdentifier = gk, Vendor = vendor,
        };
    }

    private static RasMessage ReadRcf(ref PerReader r, RasMessage m, uint optional)
    {
        var protocol = r.ReadObjectIdentifier();
        if ((optional & 4) != 0)
        {
            H225Types.SkipNonStandardParameter(ref r);
        }

        var signal = H225Types.ReadTransportAddresses(ref r);
        var aliases = (optional & 2) != 0 ? H225Types.ReadAliases(ref r) : [];
        string? gk = (optional & 1) != 0 ? r.ReadBmpString(1, 128) : null;
        var endpoint = r.ReadBmpString(1, 128);
        return m with { ProtocolIdentifier = protocol, CallSignalAddresses = signal, Aliases = aliases, GatekeeperIdentifier = gk, EndpointIdentifier = endpoint };
    }

    private static RasMessage ReadRrj(ref PerReader r, RasMessage m, uint optional)
    {
        var protocol = r.ReadObjectIdentifier();
        if ((optional & 2) != 0)
        {
            H225Types.SkipNonStandardParameter(ref r);
        }

        int reason;
        IReadOnlyList<H225Alias> duplicates = [];
        if (r.ReadBit())
        {
            reason = 8 + r.ReadSmall();
            r.ReadOpenType();
        }
        else
        {
            reason = (int)r.ReadBits(3);
            if (reason == 4)
            {
                duplicates = H225Types.ReadAliases(ref r);
            }
        }

        string? gk = (optional & 1) != 0 ? r.ReadBmpString(1, 128) : null;
        return m with { ProtocolIdentifier = protocol, Reason = reason, Aliases = duplicates, GatekeeperIdentifier = gk };
    }

    private static RasMessage ReadUrq(ref PerReader r, RasMessage m, uint optional)
    {
        var signal = H225Types.ReadTransportAddresses(ref r);
        var aliases = (optional & 4) != 0 ? H225Types.ReadAliases(ref r) : [];
        if ((optional & 2) != 0)
        {
            H225Types.SkipNonStandardParameter(ref r);
        }

        string? endpoint = (optional & 1) != 0 ? r.ReadBmpString(1, 128) : null;
        return m with { CallSignalAddresses = signal, Aliases = aliases, EndpointIdentifier = endpoint };
    }

    private static RasMessage ReadLrq(ref PerReader r, RasMessage m, uint optional)
    {
        string? endpoint = (optional & 2) != 0 ? r.ReadBmpString(1, 128) : null;
        var destination = H225Types.ReadAliases(ref r);
        if ((optional & 1) != 0)
        {
            H225Types.SkipNonStandardParameter(ref r);
        }

        var reply = H225Types.ReadTransportAddress(ref r);
        return m with { EndpointIdentifier = endpoint, DestinationInfo = destination, ReplyAddress = reply };
    }

    private static RasMessage ReadLcf(ref PerReader r, RasMessage m, uint optional)
    {
        var signal = H225Types.ReadTransportAddress(ref r);
        var ras = H225Types.ReadTransportAddress(ref r);
        if ((optional & 1) != 0)
        {
            H225Types.SkipNonStandardParameter(ref r);
        }

        return m with { CallSignalAddress = signal, RasAddress = ras };
    }

    private static RasMessage SkipNonStandard(ref PerReader r, RasMessage m, uint optional, uint bit)
    {
        if ((optional & bit) != 0)
        {
            H225Types.SkipNonStandardParameter(ref r);
        }

        return m;
    }

    private static RasMessage ReadReasonThenNonStandard(ref PerReader r, RasMessage m, uint optional, int rootReasons)
    {
        var reason = ReadNullChoice(ref r, rootReasons);
        return SkipNonStandard(ref r, m with { Reason = reason }, optional, 1);
    }

    private static RasMessage ReadXrs(ref PerReader r, RasMessage m, bool extended, ReadOnlySpan<byte> data)
    {
        if (!extended)
        {
            return m;
        }

        var additions = r.ReadExtensions();
        if (!additions.Has(3))
        {
            return m;
        }

        var inner = new PerReader(additions.Content(data, 3));
        return m with { NotUnderstood = inner.ReadOctetString(MaxMessageSize) };
    }

    /// <summary>A CHOICE whose root alternatives are NULL: the index; an extension alternative is skipped and counted on.</summary>
    private static int ReadNullChoice(ref PerReader r, int rootCount)
    {
        if (r.ReadBit())
        {
            var index = r.ReadSmall();
            r.ReadOpenType();
            return rootCount + index;
        }

        return (int)r.ReadBits(PerReader.BitsFor(rootCount));
    }

    private static void SkipQseriesOptions(ref PerReader r)
    {
        var extended = r.ReadBit();
        r.ReadBits(7);
        var q954Extended = r.ReadBit();
        r.ReadBits(2);
        r.SkipExtensions(q954Extended);
        r.SkipExtensions(extended);
    }

    // ---- writing ----

    private static PerWriter Begin(RasKind kind, bool extended, int optionalCount, uint optional, int seq)
    {
        var w = new PerWriter();
        w.WriteBit(false);
        w.WriteBits((uint)kind, 5);
        w.WriteBit(extended);
        w.WriteBits(optional, optionalCount);
        w.WriteConstrained(seq, 1, 65535);
        return w;
    }

    /// <summary>
    /// GCF the way CUCM sends it (what nmap's fingerprint expects): protocol version 5, the gatekeeper identifier, the
    /// RAS address, and the extension carrying an empty alternateGatekeeper list.
    /// </summary>
    public static byte[] WriteGcf(int seq, string gatekeeperId, IPEndPoint rasAddress)
    {
        var w = Begin(RasKind.GatekeeperConfirm, true, 2, 0b01, seq);
        w.WriteObjectIdentifier(H225Types.ProtocolV5);
        w.WriteBmpString(gatekeeperId, 1, 128);
        H225Types.WriteTransportAddress(w, rasAddress);
        w.WriteExtensions(11, new Dictionary<int, Action<PerWriter>> { [0] = x => x.WriteLength(0) });
        return w.ToArray();
    }

    public static byte[] WriteGrj(int seq, string gatekeeperId, int reason)
    {
        var w = Begin(RasKind.GatekeeperReject, false, 2, 0b01, seq);
        w.WriteObjectIdentifier(H225Types.ProtocolV5);
        w.WriteBmpString(gatekeeperId, 1, 128);
        WriteNullChoice(w, reason, 4);
        return w.ToArray();
    }

    /// <summary>RCF: the call signalling address, the identifiers, a time to live, and the v2+ mandatory booleans.</summary>
    public static byte[] WriteRcf(int seq, IReadOnlyList<IPEndPoint> callSignal, string gatekeeperId, string endpointId, int timeToLive)
    {
        var w = Begin(RasKind.RegistrationConfirm, true, 3, 0b001, seq);
        w.WriteObjectIdentifier(H225Types.ProtocolV5);
        H225Types.WriteTransportAddresses(w, callSignal);
        w.WriteBmpString(gatekeeperId, 1, 128);
        w.WriteBmpString(endpointId, 1, 128);
        w.WriteExtensions(8, new Dictionary<int, Action<PerWriter>>
        {
            [1] = x => x.WriteConstrained(timeToLive, 1, uint.MaxValue),
            [5] = x => x.WriteBit(false),
            [7] = x => x.WriteBit(false),
        });
        return w.ToArray();
    }

    public static byte[] WriteRrj(int seq, string gatekeeperId, int reason)
    {
        var w = Begin(RasKind.RegistrationReject, false, 2, 0b01, seq);
        w.WriteObjectIdentifier(H225Types.ProtocolV5);
        WriteNullChoice(w, reason, 8);
        w.WriteBmpString(gatekeeperId, 1, 128);
        return w.ToArray();
    }

    public static byte[] WriteUcf(int seq) => Begin(RasKind.UnregistrationConfirm, false, 1, 0, seq).ToArray();

    public static byte[] WriteLcf(int seq, IPEndPoint callSignal, IPEndPoint ras)
    {
        var w = Begin(RasKind.LocationConfirm, false, 1, 0, seq);
        H225Types.WriteTransportAddress(w, callSignal);
        H225Types.WriteTransportAddress(w, ras);
        return w.ToArray();
    }

    public static byte[] WriteLrj(int seq, int reason) => WriteReasonReject(RasKind.LocationReject, seq, reason, 4);

    public static byte[] WriteArj(int seq, int reason) => WriteReasonReject(RasKind.AdmissionReject, seq, reason, 8);

    public static byte[] WriteDrj(int seq, int reason) => WriteReasonReject(RasKind.DisengageReject, seq, reason, 2);

    private static byte[] WriteReasonReject(RasKind kind, int seq, int reason, int rootReasons)
    {
        var w = Begin(kind, false, 1, 0, seq);
        WriteNullChoice(w, reason, rootReasons);
        return w.ToArray();
    }

    /// <summary>XRS (unknownMessageResponse): the sequence number and the message not understood (quoted up to <see cref="MaxNotUnderstood"/>).</summary>
    public static byte[] WriteXrs(int seq, ReadOnlySpan<byte> notUnderstood)
    {
        var quoted = notUnderstood[..Math.Min(notUnderstood.Length, MaxNotUnderstood)].ToArray();
        var w = Begin(RasKind.UnknownMessageResponse, true, 0, 0, Math.Max(1, seq));
        w.WriteExtensions(4, new Dictionary<int, Action<PerWriter>> { [3] = x => x.WriteOctetString(quoted) });
        return w.ToArray();
    }

    private static void WriteNullChoice(PerWriter w, int index, int rootCount)
    {
        if (index < rootCount)
        {
            w.WriteBit(false);
            w.WriteBits((uint)index, PerReader.BitsFor(rootCount));
        }
        else
        {
            w.WriteBit(true);
            w.WriteSmall(index - rootCount);
            w.WriteOpenType(_ => { });
        }
    }

    /// <summary>GRQ: the RAS address, the endpoint a terminal, optionally the aliases and the gatekeeper asked for; supportsAssignedGK false.</summary>
    public static byte[] WriteGrq(int seq, IPEndPoint rasAddress, IReadOnlyList<H225Alias> aliases, string? gatekeeperId = null)
    {
        ArgumentNullException.ThrowIfNull(aliases);
        var w = Begin(RasKind.GatekeeperRequest, true, 4, (gatekeeperId is null ? 0u : 0b0100) | (aliases.Count > 0 ? 0b0001u : 0), seq);
        w.WriteObjectIdentifier(H225Types.ProtocolV5);
        H225Types.WriteTransportAddress(w, rasAddress);
        H225Types.WriteEndpointType(w, H225EndpointKind.Terminal);
        if (gatekeeperId is not null)
        {
            w.WriteBmpString(gatekeeperId, 1, 128);
        }

        if (aliases.Count > 0)
        {
            H225Types.WriteAliases(w, aliases);
        }

        w.WriteExtensions(11, new Dictionary<int, Action<PerWriter>> { [10] = x => x.WriteBit(false) });
        return w.ToArray();
    }

    /// <summary>RRQ of a gateway: its call signalling and RAS addresses, aliases, Cisco's vendor code; keepAlive, willSupplyUUIEs and maintainConnection false.</summary>
    public static byte[] WriteRrq(int seq, IPEndPoint callSignal, IPEndPoint ras, IReadOnlyList<H225Alias> aliases, string? gatekeeperId = null)
    {
        ArgumentNullException.ThrowIfNull(aliases);
        var w = Begin(RasKind.RegistrationRequest, true, 3, (aliases.Count > 0 ? 0b010u : 0) | (gatekeeperId is null ? 0u : 0b001), seq);
        w.WriteObjectIdentifier(H225Types.ProtocolV5);
        w.WriteBit(true);
        H225Types.WriteTransportAddresses(w, [callSignal]);
        H225Types.WriteTransportAddresses(w, [ras]);
        H225Types.WriteEndpointType(w, H225EndpointKind.Gateway);
        if (aliases.Count > 0)
        {
            H225Types.WriteAliases(w, aliases);
        }

        if (gatekeeperId is not null)
        {
            w.WriteBmpString(gatekeeperId, 1, 128);
        }

        H225Types.WriteVendor(w, "cucmsim", null);
        w.WriteExtensions(9, new Dictionary<int, Action<PerWriter>>
        {
            [5] = x => x.WriteBit(false),
            [7] = x => x.WriteBit(false),
            [8] = x => x.WriteBit(false),
        });
        return w.ToArray();
    }

    /// <summary>LRQ for one destination, answers to <paramref name="replyAddress"/>; canMapAlias and canMapSrcAlias false.</summary>
    public static byte[] WriteLrq(int seq, H225Alias destination, IPEndPoint replyAddress)
    {
        var w = Begin(RasKind.LocationRequest, true, 2, 0, seq);
        H225Types.WriteAliases(w, [destination]);
        H225Types.WriteTransportAddress(w, replyAddress);
        w.WriteExtensions(16, new Dictionary<int, Action<PerWriter>>
        {
            [1] = x => x.WriteBit(false),
            [15] = x => x.WriteBit(false),
        });
        return w.ToArray();
    }

    public static byte[] WriteUrq(int seq, IPEndPoint callSignal, string? endpointId)
    {
        var w = Begin(RasKind.UnregistrationRequest, false, 3, endpointId is null ? 0u : 0b001, seq);
        H225Types.WriteTransportAddresses(w, [callSignal]);
        if (endpointId is not null)
        {
            w.WriteBmpString(endpointId, 1, 128);
        }

        return w.ToArray();
    }

    /// <summary>A request of a kind with only a sequence number and reason this emulator does not serve (ARQ-like heads for tests).</summary>
    public static byte[] WriteHead(int kind, int seq)
    {
        var w = new PerWriter();
        w.WriteBit(false);
        w.WriteBits((uint)kind, 5);
        w.WriteBit(false);
        w.WriteBits(0, OptionalCount(kind));
        w.WriteConstrained(seq, 1, 65535);
        return w.ToArray();
    }
}
