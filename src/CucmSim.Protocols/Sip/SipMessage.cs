using System.Buffers;
using System.Buffers.Text;

namespace CucmSim.Protocols.Sip;

/// <summary>Why a message was refused. Anything but <see cref="Ok"/> and <see cref="NotSip"/> deserves a 400 when a response can be built.</summary>
public enum SipParseError : byte
{
    Ok = 0,
    /// <summary>Not a SIP start line (scanner noise, HTTP, binary): drop it.</summary>
    NotSip,
    TooLarge,
    TooManyHeaders,
    BadStartLine,
    /// <summary>A SIP version other than 2.0 (RFC 3261 §8.2.2.1... answer 505).</summary>
    BadVersion,
    BadHeader,
    MissingHeader,
    BadContentLength,
    /// <summary>The body is shorter than Content-Length (RFC 3261 §18.3: a datagram gets 400).</summary>
    TruncatedBody,
    BadCSeq,
    BadMaxForwards,
    BadVia,
}

/// <summary>A span of the message buffer.</summary>
public readonly record struct SipRange(int Start, int Length)
{
    public int End => Start + Length;
    public bool IsEmpty => Length == 0;
}

/// <summary>One header line (after unfolding): its recognised id, its name and its trimmed value.</summary>
public readonly record struct SipHeaderEntry(SipHeaderId Id, SipRange Name, SipRange Value);

/// <summary>
/// A parsed SIP message (RFC 3261 §7). The message bytes are copied into a buffer the instance owns and reuses,
/// and every field is a range of that buffer: after warm-up, parsing allocates nothing. Not thread-safe: one
/// instance per receive loop or connection.
/// </summary>
public sealed class SipMessage
{
    public const int DefaultMaxSize = 64 * 1024;
    public const int DefaultMaxHeaders = 128;
    public const int MaxVias = 64;

    private readonly int _maxSize;
    private readonly int _maxHeaders;
    private readonly SipHeaderEntry[] _headers;
    private readonly short[] _first = new short[(int)SipHeaderId.Count];
    private readonly SipRange[] _vias = new SipRange[MaxVias];
    private byte[] _buffer;
    private int _length;
    private int _headerCount;
    private int _viaCount;

    public SipMessage(int maxSize = DefaultMaxSize, int maxHeaders = DefaultMaxHeaders)
    {
        _maxSize = maxSize;
        _maxHeaders = maxHeaders;
        _headers = new SipHeaderEntry[maxHeaders];
        _buffer = new byte[Math.Min(maxSize, 4096)];
    }

    public int MaxSize => _maxSize;
    public bool IsRequest { get; private set; }
    public SipMethod Method { get; private set; }
    public SipRange MethodRange { get; private set; }
    public SipRange Uri { get; private set; }
    public SipRange StartLine { get; private set; }
    public int StatusCode { get; private set; }
    public SipRange Reason { get; private set; }
    public SipRange Body { get; private set; }

    /// <summary>The CSeq number and method (RFC 3261 §20.16).</summary>
    public uint CSeqNumber { get; private set; }
    public SipRange CSeqMethod { get; private set; }

    /// <summary>Content-Length as declared; -1 when absent.</summary>
    public int ContentLength { get; private set; }
    public int MaxForwards { get; private set; }

    /// <summary>The bytes parsed (start line to end of body).</summary>
    public ReadOnlySpan<byte> Raw => _buffer.AsSpan(0, _length);
    public int HeaderCount => _headerCount;
    public int ViaCount => _viaCount;

    public ReadOnlySpan<byte> this[SipRange range] => _buffer.AsSpan(range.Start, range.Length);

    public SipHeaderEntry Header(int index) => _headers[index];

    public ReadOnlySpan<byte> Via(int index) => this[_vias[index]];

    /// <summary>The value of the first header with this id (empty when absent).</summary>
    public ReadOnlySpan<byte> Get(SipHeaderId id) => _first[(int)id] is var i and >= 0 ? this[_headers[i].Value] : default;

    public bool Has(SipHeaderId id) => _first[(int)id] >= 0;

    /// <summary>The value of the first header with this name (any case; for headers without an id).</summary>
    public ReadOnlySpan<byte> Get(ReadOnlySpan<byte> lowerName)
    {
        for (var i = 0; i < _headerCount; i++)
        {
            if (SipNames.Eq(this[_headers[i].Name], lowerName))
            {
                return this[_headers[i].Value];
            }
        }

        return default;
    }

    public SipParseError Parse(ReadOnlySequence<byte> message)
    {
        if (message.Length > _maxSize)
        {
            Reset();
            return SipParseError.TooLarge;
        }

        if (message.IsSingleSegment)
        {
            return Parse(message.FirstSpan);
        }

        var length = (int)message.Length;
        EnsureCapacity(length);
        message.CopyTo(_buffer);
        return ParseBuffer(length);
    }

    /// <summary>Parses one whole message (a datagram, or a message framed by <see cref="SipFraming"/>).</summary>
    public SipParseError Parse(ReadOnlySpan<byte> message)
    {
        if (message.Length > _maxSize)
        {
            Reset();
            return SipParseError.TooLarge;
        }

        EnsureCapacity(message.Length);
        message.CopyTo(_buffer);
        return ParseBuffer(message.Length);
    }

    private void EnsureCapacity(int length)
    {
        if (_buffer.Length < length)
        {
            _buffer = new byte[Math.Min(_maxSize, Math.Max(length, _buffer.Length * 2))];
        }
    }

    private void Reset()
    {
        _length = 0;
        _headerCount = 0;
        _viaCount = 0;
        _first.AsSpan().Fill(-1);
        IsRequest = false;
        Method = SipMethod.Other;
        MethodRange = Uri = StartLine = Reason = Body = CSeqMethod = default;
        StatusCode = 0;
        CSeqNumber = 0;
        ContentLength = -1;
        MaxForwards = -1;
    }

    private SipParseError ParseBuffer(int length)
    {
        Reset();
        _length = length;
        var span = _buffer.AsSpan(0, length);

        // RFC 3261 §7.5: CRLFs before the start line are ignored on stream transports and datagrams alike.
        var pos = 0;
        while (pos + 1 < length && span[pos] == '\r' && span[pos + 1] == '\n')
        {
            pos += 2;
        }

        var lineEnd = span[pos..].IndexOf("\r\n"u8);
        if (lineEnd <= 0)
        {
            return SipParseError.NotSip;
        }

        // Another SIP version still has its headers parsed, so that a 505 can be built (RFC 3261 §21.5.6).
        var error = ParseStartLine(span.Slice(pos, lineEnd), pos);
        if (error != SipParseError.Ok && error != SipParseError.BadVersion)
        {
            return error;
        }

        StartLine = new SipRange(pos, lineEnd);
        pos += lineEnd + 2;

        // Headers until the empty line (RFC 3261 §7.3); a line starting with SP/HT continues the previous one
        // (§7.3.1 folding: the CRLF and the white space are equivalent to one SP, so the buffer is unfolded in place).
        var bodyStart = -1;
        while (pos < length)
        {
            var rest = span[pos..];
            var end = rest.IndexOf("\r\n"u8);
            if (end < 0)
            {
                // The header section does not end: a message cut short.
                return SipParseError.BadHeader;
            }

            if (end == 0)
            {
                bodyStart = pos + 2;
                break;
            }

            if (rest[0] is (byte)' ' or (byte)'\t')
            {
                if (_headerCount == 0)
                {
                    return SipParseError.BadHeader;
                }

                span[pos - 2] = (byte)' ';
                span[pos - 1] = (byte)' ';
                ref var last = ref _headers[_headerCount - 1];
                var valueEnd = TrimEnd(span, pos, pos + end);
                var start = last.Value.Length == 0 ? SkipWs(span, pos, pos + end) : last.Value.Start;
                last = last with { Value = new SipRange(start, valueEnd - start) };
                pos += end + 2;
                continue;
            }

            if (_headerCount == _maxHeaders)
            {
                return SipParseError.TooManyHeaders;
            }

            var nameEnd = 0;
            while (nameEnd < end && SipNames.IsToken(rest[nameEnd]))
            {
                nameEnd++;
            }

            var colon = nameEnd;
            while (colon < end && rest[colon] is (byte)' ' or (byte)'\t')
            {
                colon++;
            }

            if (nameEnd == 0 || colon >= end || rest[colon] != ':')
            {
                return SipParseError.BadHeader;
            }

            var vStart = SkipWs(span, pos + colon + 1, pos + end);
            var vEnd = TrimEnd(span, vStart, pos + end);
            var id = SipNames.Identify(rest[..nameEnd]);
            _headers[_headerCount] = new SipHeaderEntry(id, new SipRange(pos, nameEnd), new SipRange(vStart, vEnd - vStart));
            if (_first[(int)id] < 0)
            {
                _first[(int)id] = (short)_headerCount;
            }

            _headerCount++;
            pos += end + 2;
        }

        if (bodyStart < 0)
        {
            return SipParseError.BadHeader;
        }

        var valid = Validate(bodyStart, length);
        return error == SipParseError.BadVersion ? error : valid;
    }

    private SipParseError ParseStartLine(ReadOnlySpan<byte> line, int offset)
    {
        if (line.StartsWith("SIP/"u8))
        {
            // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase (RFC 3261 §7.2)
            if (!line.StartsWith("SIP/2.0 "u8))
            {
                return IsVersion(line[..Math.Max(0, line.IndexOf((byte)' '))]) ? SipParseError.BadVersion : SipParseError.NotSip;
            }

            if (line.Length < 11 || !IsDigit(line[8]) || !IsDigit(line[9]) || !IsDigit(line[10]) || (line.Length > 11 && line[11] != ' '))
            {
                return SipParseError.BadStartLine;
            }

            StatusCode = ((line[8] - '0') * 100) + ((line[9] - '0') * 10) + (line[10] - '0');
            if (StatusCode < 100)
            {
                return SipParseError.BadStartLine;
            }

            Reason = line.Length > 12 ? new SipRange(offset + 12, line.Length - 12) : new SipRange(offset + line.Length, 0);
            IsRequest = false;
            return SipParseError.Ok;
        }

        // Request-Line = Method SP Request-URI SP SIP-Version (RFC 3261 §7.1): exactly single spaces.
        var sp1 = line.IndexOf((byte)' ');
        if (sp1 <= 0)
        {
            return SipParseError.NotSip;
        }

        for (var i = 0; i < sp1; i++)
        {
            if (!SipNames.IsToken(line[i]))
            {
                return SipParseError.NotSip;
            }
        }

        var sp2 = line.LastIndexOf((byte)' ');
        if (sp2 <= sp1)
        {
            return SipParseError.NotSip;
        }

        var version = line[(sp2 + 1)..];
        var uri = line[(sp1 + 1)..sp2];
        if (!version.SequenceEqual("SIP/2.0"u8))
        {
            if (!IsVersion(version))
            {
                return SipParseError.NotSip;
            }

            IsRequest = true;
            MethodRange = new SipRange(offset, sp1);
            Method = SipNames.IdentifyMethod(line[..sp1]);
            Uri = new SipRange(offset + sp1 + 1, sp2 - sp1 - 1);
            return SipParseError.BadVersion;
        }

        if (uri.Length == 0 || uri.IndexOfAny((byte)' ', (byte)'\t') >= 0 || uri.IndexOf((byte)':') <= 0 || uri[0] == '<')
        {
            // RFC 4475 §3.1.2.9/§3.1.2.10: no white space and no angle brackets around the Request-URI.
            return SipParseError.BadStartLine;
        }

        IsRequest = true;
        MethodRange = new SipRange(offset, sp1);
        Method = SipNames.IdentifyMethod(line[..sp1]);
        Uri = new SipRange(offset + sp1 + 1, sp2 - sp1 - 1);
        return SipParseError.Ok;
    }

    private SipParseError Validate(int bodyStart, int length)
    {
        var span = _buffer.AsSpan(0, length);
        var available = length - bodyStart;
        if (_first[(int)SipHeaderId.ContentLength] >= 0)
        {
            // Every Content-Length must agree (RFC 4475 §3.1.2.11 multiple values are invalid).
            var cl = -1;
            for (var i = 0; i < _headerCount; i++)
            {
                if (_headers[i].Id != SipHeaderId.ContentLength)
                {
                    continue;
                }

                if (!TryParseUInt(this[_headers[i].Value], out var value) || value > int.MaxValue || (cl >= 0 && cl != (int)value))
                {
                    return SipParseError.BadContentLength;
                }

                cl = (int)value;
            }

            ContentLength = cl;
            if (cl > available)
            {
                return SipParseError.TruncatedBody;
            }

            // RFC 3261 §18.3: bytes past Content-Length in a datagram are discarded.
            Body = new SipRange(bodyStart, cl);
        }
        else
        {
            Body = new SipRange(bodyStart, available);
        }

        for (var i = 0; i < _headerCount && _viaCount < MaxVias; i++)
        {
            if (_headers[i].Id == SipHeaderId.Via)
            {
                if (!SplitList(span, _headers[i].Value))
                {
                    return SipParseError.BadVia;
                }
            }
        }

        if (_first[(int)SipHeaderId.CSeq] >= 0)
        {
            var cseq = Get(SipHeaderId.CSeq);
            var digits = 0;
            while (digits < cseq.Length && IsDigit(cseq[digits]))
            {
                digits++;
            }

            var methodStart = digits;
            while (methodStart < cseq.Length && cseq[methodStart] is (byte)' ' or (byte)'\t')
            {
                methodStart++;
            }

            // CSeq = 1*DIGIT LWS Method, the number below 2**31 (RFC 3261 §8.1.1.5).
            if (digits == 0 || digits > 10 || methodStart == digits || methodStart == cseq.Length
                || !Utf8Parser.TryParse(cseq[..digits], out uint number, out _) || number > int.MaxValue)
            {
                return SipParseError.BadCSeq;
            }

            var method = cseq[methodStart..];
            foreach (var c in method)
            {
                if (!SipNames.IsToken(c))
                {
                    return SipParseError.BadCSeq;
                }
            }

            CSeqNumber = number;
            var baseOffset = _headers[_first[(int)SipHeaderId.CSeq]].Value.Start;
            CSeqMethod = new SipRange(baseOffset + methodStart, method.Length);
            if (IsRequest && !method.SequenceEqual(this[MethodRange]))
            {
                // RFC 4475 §3.1.2.16: the CSeq method must match the request method.
                return SipParseError.BadCSeq;
            }
        }

        if (_first[(int)SipHeaderId.MaxForwards] >= 0)
        {
            if (!TryParseUInt(Get(SipHeaderId.MaxForwards), out var mf) || mf > 255)
            {
                return SipParseError.BadMaxForwards;
            }

            MaxForwards = (int)mf;
        }

        if (IsRequest)
        {
            // RFC 3261 §8.1.1: To, From, CSeq, Call-ID and Via are mandatory (Max-Forwards is tolerated when absent).
            if (_viaCount == 0 || !Has(SipHeaderId.From) || !Has(SipHeaderId.To) || !Has(SipHeaderId.CallId) || !Has(SipHeaderId.CSeq))
            {
                return SipParseError.MissingHeader;
            }

            if (Get(SipHeaderId.CallId).IndexOfAny((byte)' ', (byte)'\t') >= 0)
            {
                return SipParseError.BadHeader;
            }
        }
        else if (_viaCount == 0 || !Has(SipHeaderId.CSeq) || !Has(SipHeaderId.CallId))
        {
            return SipParseError.MissingHeader;
        }

        return SipParseError.Ok;
    }

    /// <summary>Splits a comma-joined Via value (RFC 3261 §7.3.1) outside quoted strings.</summary>
    private bool SplitList(ReadOnlySpan<byte> span, SipRange value)
    {
        var start = value.Start;
        var quoted = false;
        for (var i = value.Start; i <= value.End; i++)
        {
            if (i < value.End)
            {
                var c = span[i];
                if (c == '"' && (i == value.Start || span[i - 1] != '\\'))
                {
                    quoted = !quoted;
                }

                if (quoted || c != ',')
                {
                    continue;
                }
            }

            var s = SkipWs(span, start, i);
            var e = TrimEnd(span, s, i);
            if (e == s || _viaCount == MaxVias)
            {
                return false;
            }

            // sent-protocol: SIP/2.0/transport (RFC 3261 §20.42)
            if (!SipNames.Eq(span.Slice(s, Math.Min(8, e - s)), "sip/2.0/"u8))
            {
                return false;
            }

            _vias[_viaCount++] = new SipRange(s, e - s);
            start = i + 1;
        }

        return !quoted;
    }

    private static int SkipWs(ReadOnlySpan<byte> span, int from, int to)
    {
        while (from < to && span[from] is (byte)' ' or (byte)'\t')
        {
            from++;
        }

        return from;
    }

    private static int TrimEnd(ReadOnlySpan<byte> span, int from, int to)
    {
        while (to > from && span[to - 1] is (byte)' ' or (byte)'\t')
        {
            to--;
        }

        return to;
    }

    private static bool IsDigit(byte c) => c is >= (byte)'0' and <= (byte)'9';

    private static bool IsVersion(ReadOnlySpan<byte> v) => v.Length >= 7 && v.StartsWith("SIP/"u8) && IsDigit(v[4]);

    public static bool TryParseUInt(ReadOnlySpan<byte> text, out ulong value)
    {
        value = 0;
        if (text.Length == 0 || text.Length > 18)
        {
            return false;
        }

        foreach (var c in text)
        {
            if (!IsDigit(c))
            {
                return false;
            }

            value = (value * 10) + (ulong)(c - '0');
        }

        return true;
    }
}
