using System.Buffers;
using System.Formats.Asn1;
using System.Numerics;
using System.Text;

namespace CucmSim.Protocols.Ldap;

/// <summary>A message that is well framed but not valid LDAP, or over one of the codec's caps.</summary>
public sealed class LdapCodecException(string message) : Exception(message);

/// <summary>
/// LDAPv3 messages (RFC 4511) on System.Formats.Asn1 with BER. Framing reads one LDAPMessage from a stream: a
/// SEQUENCE with a definite length of at most <see cref="MaxMessageSize"/> (the indefinite form is not allowed for
/// LDAP, §5.1). The decoders take one framed message and return a request or a response, or throw
/// <see cref="LdapCodecException"/> / <see cref="AsnContentException"/> (see <see cref="TryReadRequest"/>).
/// </summary>
public static class LdapCodec
{
    /// <summary>Cap on one message from a peer (a search request is some hundred bytes; a large entry some kilobytes).</summary>
    public const int MaxMessageSize = 256 * 1024;

    /// <summary>Attributes selected by one search request.</summary>
    public const int MaxAttributes = 128;

    /// <summary>Controls on one message.</summary>
    public const int MaxControls = 16;

    private static readonly UTF8Encoding Utf8 = new(false, true);

    /// <summary>
    /// Frames one LDAPMessage: Done with its bytes (tag to end) and the reader past it; NeedMoreData with the
    /// reader unmoved; InvalidData (with a reason) for a first byte that is not a SEQUENCE, an indefinite or
    /// over-long length, or a message over <paramref name="maxSize"/>: the stream cannot be resynchronised.
    /// </summary>
    public static OperationStatus TryReadMessage(ref SequenceReader<byte> reader, out ReadOnlySequence<byte> message, out string? error, int maxSize = MaxMessageSize)
    {
        message = default;
        error = null;
        var start = reader;
        if (!reader.TryRead(out var tag))
        {
            return OperationStatus.NeedMoreData;
        }

        if (tag != 0x30)
        {
            reader = start;
            error = $"not an LDAPMessage (first byte 0x{tag:x2})";
            return OperationStatus.InvalidData;
        }

        if (!reader.TryRead(out var first))
        {
            reader = start;
            return OperationStatus.NeedMoreData;
        }

        long length = first;
        if (first == 0x80)
        {
            reader = start;
            error = "indefinite length";
            return OperationStatus.InvalidData;
        }

        if (first > 0x80)
        {
            var count = first & 0x7F;
            if (count > 4)
            {
                reader = start;
                error = "length of more than four bytes";
                return OperationStatus.InvalidData;
            }

            length = 0;
            for (var i = 0; i < count; i++)
            {
                if (!reader.TryRead(out var b))
                {
                    reader = start;
                    return OperationStatus.NeedMoreData;
                }

                length = (length << 8) | b;
            }
        }

        var headerLength = reader.Consumed - start.Consumed;
        if (length > maxSize - headerLength)
        {
            reader = start;
            error = $"message of {length} bytes over the {maxSize}-byte limit";
            return OperationStatus.InvalidData;
        }

        if (reader.Remaining < length)
        {
            reader = start;
            return OperationStatus.NeedMoreData;
        }

        reader.Advance(length);
        message = reader.Sequence.Slice(start.Position, reader.Position);
        return OperationStatus.Done;
    }

    /// <summary>
    /// Decodes a framed request. False with a reason for anything malformed; <paramref name="messageId"/> is the
    /// message's id when it could be read (else -1), so that the answer can name it.
    /// </summary>
    public static bool TryReadRequest(ReadOnlyMemory<byte> message, out LdapRequest? request, out int messageId, out string? error)
    {
        request = null;
        messageId = -1;
        error = null;
        try
        {
            var outer = new AsnReader(message, AsnEncodingRules.BER).ReadSequence();
            messageId = ReadMessageId(outer);
            var tag = outer.PeekTag();
            if (tag.TagClass != TagClass.Application)
            {
                throw new LdapCodecException("protocolOp is not an application tag");
            }

            var op = (LdapOperation)tag.TagValue;
            request = op switch
            {
                LdapOperation.BindRequest => ReadBind(outer.ReadSequence(tag)),
                LdapOperation.SearchRequest => ReadSearch(outer.ReadSequence(tag)),
                LdapOperation.UnbindRequest => ReadUnbind(outer, tag),
                LdapOperation.AbandonRequest => new LdapAbandonRequest(ReadInt(outer, tag)),
                LdapOperation.ExtendedRequest => ReadExtended(outer.ReadSequence(tag)),
                LdapOperation.ModifyRequest or LdapOperation.AddRequest or LdapOperation.DelRequest or LdapOperation.ModifyDnRequest or LdapOperation.CompareRequest
                    => Skip(outer, op),
                _ => throw new LdapCodecException($"protocolOp [APPLICATION {tag.TagValue}] is not a request"),
            };
            request = request with { MessageId = messageId, Controls = ReadControls(outer) };
            outer.ThrowIfNotEmpty();
            return true;
        }
        catch (Exception ex) when (ex is AsnContentException or LdapCodecException or DecoderFallbackException or ArgumentException)
        {
            request = null;
            error = ex is DecoderFallbackException ? "a string that is not UTF-8" : ex.Message;
            return false;
        }
    }

    /// <summary>Decodes a framed response (the client's side); false with a reason for anything malformed.</summary>
    public static bool TryReadResponse(ReadOnlyMemory<byte> message, out LdapResponse? response, out string? error)
    {
        response = null;
        error = null;
        try
        {
            var outer = new AsnReader(message, AsnEncodingRules.BER).ReadSequence();
            var messageId = ReadMessageId(outer);
            var tag = outer.PeekTag();
            var op = (LdapOperation)tag.TagValue;
            if (tag.TagClass != TagClass.Application)
            {
                throw new LdapCodecException("protocolOp is not an application tag");
            }

            switch (op)
            {
                case LdapOperation.SearchResultEntry:
                    var entry = outer.ReadSequence(tag);
                    var dn = ReadString(entry);
                    var list = entry.ReadSequence();
                    var attributes = new List<LdapAttribute>();
                    while (list.HasData)
                    {
                        var attribute = list.ReadSequence();
                        var type = ReadString(attribute);
                        var set = attribute.ReadSetOf();
                        var values = new List<string>();
                        while (set.HasData)
                        {
                            values.Add(ReadString(set));
                        }

                        attributes.Add(new LdapAttribute(type, values));
                    }

                    response = new LdapSearchEntry(dn, attributes) { MessageId = messageId };
                    break;
                case LdapOperation.BindResponse or LdapOperation.SearchResultDone or LdapOperation.ExtendedResponse or LdapOperation.ModifyResponse
                    or LdapOperation.AddResponse or LdapOperation.DelResponse or LdapOperation.ModifyDnResponse or LdapOperation.CompareResponse:
                    var result = outer.ReadSequence(tag);
                    var code = (LdapResultCode)ReadEnumerated(result);
                    var matched = ReadString(result);
                    var diagnostic = ReadString(result);
                    string? name = null;
                    byte[]? value = null;
                    while (result.HasData)
                    {
                        var t = result.PeekTag();
                        if (t.TagClass == TagClass.ContextSpecific && t.TagValue == 10)
                        {
                            name = ReadString(result, t);
                        }
                        else if (t.TagClass == TagClass.ContextSpecific && t.TagValue == 11)
                        {
                            value = result.ReadOctetString(t);
                        }
                        else
                        {
                            result.ReadEncodedValue();
                        }
                    }

                    response = new LdapResult(op, code, matched, diagnostic) { MessageId = messageId, ResponseName = name, ResponseValue = value, Controls = ReadControls(outer) };
                    break;
                default:
                    outer.ReadEncodedValue();
                    response = new LdapOtherResponse(op) { MessageId = messageId };
                    break;
            }

            return true;
        }
        catch (Exception ex) when (ex is AsnContentException or LdapCodecException or DecoderFallbackException or ArgumentException)
        {
            error = ex is DecoderFallbackException ? "a string that is not UTF-8" : ex.Message;
            return false;
        }
    }

    private static int ReadMessageId(AsnReader outer)
    {
        if (!outer.TryReadInt32(out var id) || id < 0)
        {
            throw new LdapCodecException("messageID out of range");
        }

        return id;
    }

    private static LdapBindRequest ReadBind(AsnReader bind)
    {
        var version = ReadInt(bind);
        var name = ReadString(bind);
        var tag = bind.PeekTag();
        LdapBindRequest request;
        if (tag.TagClass == TagClass.ContextSpecific && tag.TagValue == 0)
        {
            request = new LdapBindRequest(version, name, ReadString(bind, tag), null);
        }
        else if (tag.TagClass == TagClass.ContextSpecific && tag.TagValue == 3)
        {
            var sasl = bind.ReadSequence(tag);
            request = new LdapBindRequest(version, name, null, ReadString(sasl));
            if (sasl.HasData)
            {
                sasl.ReadOctetString();
            }

            sasl.ThrowIfNotEmpty();
        }
        else
        {
            throw new LdapCodecException($"unknown authentication choice [{tag.TagValue}]");
        }

        bind.ThrowIfNotEmpty();
        return request;
    }

    private static LdapSearchRequest ReadSearch(AsnReader search)
    {
        var baseObject = ReadString(search);
        var scope = ReadEnumerated(search);
        if (scope is < 0 or > 2)
        {
            throw new LdapCodecException($"scope {scope}");
        }

        var deref = ReadEnumerated(search);
        var sizeLimit = ReadInt(search);
        var timeLimit = ReadInt(search);
        if (sizeLimit < 0 || timeLimit < 0)
        {
            throw new LdapCodecException("negative size or time limit");
        }

        var typesOnly = search.ReadBoolean();
        var filter = LdapFilter.Read(search);
        var list = search.ReadSequence();
        var attributes = new List<string>();
        while (list.HasData)
        {
            if (attributes.Count == MaxAttributes)
            {
                throw new LdapCodecException($"more than {MaxAttributes} attributes selected");
            }

            attributes.Add(ReadString(list));
        }

        search.ThrowIfNotEmpty();
        return new LdapSearchRequest(baseObject, (LdapScope)scope, deref, sizeLimit, timeLimit, typesOnly, filter, attributes);
    }

    private static LdapUnbindRequest ReadUnbind(AsnReader outer, Asn1Tag tag)
    {
        outer.ReadNull(tag);
        return new LdapUnbindRequest();
    }

    private static LdapExtendedRequest ReadExtended(AsnReader extended)
    {
        var name = ReadString(extended, new Asn1Tag(TagClass.ContextSpecific, 0));
        byte[]? value = null;
        if (extended.HasData)
        {
            value = extended.ReadOctetString(new Asn1Tag(TagClass.ContextSpecific, 1));
        }

        extended.ThrowIfNotEmpty();
        return new LdapExtendedRequest(name, value);
    }

    private static LdapOtherRequest Skip(AsnReader outer, LdapOperation op)
    {
        outer.ReadEncodedValue();
        return new LdapOtherRequest(op);
    }

    private static List<LdapControl> ReadControls(AsnReader outer)
    {
        var controls = new List<LdapControl>();
        if (!outer.HasData)
        {
            return controls;
        }

        var list = outer.ReadSequence(new Asn1Tag(TagClass.ContextSpecific, 0, true));
        while (list.HasData)
        {
            if (controls.Count == MaxControls)
            {
                throw new LdapCodecException($"more than {MaxControls} controls");
            }

            var control = list.ReadSequence();
            var type = ReadString(control);
            var critical = false;
            byte[]? value = null;
            if (control.HasData && control.PeekTag().HasSameClassAndValue(Asn1Tag.Boolean))
            {
                critical = control.ReadBoolean();
            }

            if (control.HasData)
            {
                value = control.ReadOctetString();
            }

            control.ThrowIfNotEmpty();
            controls.Add(new LdapControl(type, critical, value));
        }

        return controls;
    }

    private static int ReadInt(AsnReader reader, Asn1Tag? tag = null)
    {
        if (!reader.TryReadInt32(out var value, tag))
        {
            throw new LdapCodecException("INTEGER out of range");
        }

        return value;
    }

    private static int ReadEnumerated(AsnReader reader)
    {
        var bytes = reader.ReadEnumeratedBytes();
        var value = new BigInteger(bytes.Span, isUnsigned: false, isBigEndian: true);
        if (value < int.MinValue || value > int.MaxValue)
        {
            throw new LdapCodecException("ENUMERATED out of range");
        }

        return (int)value;
    }

    /// <summary>An OCTET STRING as UTF-8 text (LDAPString, LDAPDN, AttributeValue of this directory).</summary>
    public static string ReadString(AsnReader reader, Asn1Tag? tag = null) => Utf8.GetString(reader.ReadOctetString(tag));

    public static void WriteString(AsnWriter writer, string value, Asn1Tag? tag = null) => writer.WriteOctetString(Encoding.UTF8.GetBytes(value), tag);

    /// <summary>The envelope of every message: SEQUENCE { messageID, protocolOp, controls }.</summary>
    private static byte[] Envelope(int messageId, Action<AsnWriter> op, IReadOnlyList<LdapControl>? controls = null)
    {
        var writer = new AsnWriter(AsnEncodingRules.BER);
        using (writer.PushSequence())
        {
            writer.WriteInteger(messageId);
            op(writer);
            if (controls is { Count: > 0 })
            {
                using (writer.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 0, true)))
                {
                    foreach (var control in controls)
                    {
                        using (writer.PushSequence())
                        {
                            WriteString(writer, control.Type);
                            if (control.Criticality)
                            {
                                writer.WriteBoolean(true);
                            }

                            if (control.Value is not null)
                            {
                                writer.WriteOctetString(control.Value);
                            }
                        }
                    }
                }
            }
        }

        return writer.Encode();
    }

    private static Asn1Tag App(LdapOperation op, bool constructed = true) => new(TagClass.Application, (int)op, constructed);

    /// <summary>
    /// An LDAPResult-shaped response (BindResponse, SearchResultDone, ModifyResponse, ...); an ExtendedResponse
    /// carries <paramref name="responseName"/> and <paramref name="responseValue"/> when given.
    /// </summary>
    public static byte[] WriteResult(int messageId, LdapOperation op, LdapResultCode code, string matchedDn = "", string diagnostic = "",
        string? responseName = null, byte[]? responseValue = null, IReadOnlyList<LdapControl>? controls = null) =>
        Envelope(messageId, w =>
        {
            using (w.PushSequence(App(op)))
            {
                w.WriteEnumeratedValue(code);
                WriteString(w, matchedDn);
                WriteString(w, diagnostic);
                if (responseName is not null)
                {
                    WriteString(w, responseName, new Asn1Tag(TagClass.ContextSpecific, 10));
                }

                if (responseValue is not null)
                {
                    w.WriteOctetString(responseValue, new Asn1Tag(TagClass.ContextSpecific, 11));
                }
            }
        }, controls);

    /// <summary>The unsolicited Notice of Disconnection (RFC 4511 §4.4.1): message id 0, then the server closes.</summary>
    public static byte[] WriteNoticeOfDisconnection(LdapResultCode code, string diagnostic) =>
        WriteResult(0, LdapOperation.ExtendedResponse, code, diagnostic: diagnostic, responseName: LdapOids.NoticeOfDisconnection);

    public static byte[] WriteSearchEntry(int messageId, string dn, IEnumerable<LdapAttribute> attributes, bool typesOnly = false) =>
        Envelope(messageId, w =>
        {
            using (w.PushSequence(App(LdapOperation.SearchResultEntry)))
            {
                WriteString(w, dn);
                using (w.PushSequence())
                {
                    foreach (var attribute in attributes)
                    {
                        using (w.PushSequence())
                        {
                            WriteString(w, attribute.Type);
                            using (w.PushSetOf())
                            {
                                if (!typesOnly)
                                {
                                    foreach (var value in attribute.Values)
                                    {
                                        WriteString(w, value);
                                    }
                                }
                            }
                        }
                    }
                }
            }
        });

    /// <summary>A simple bind (anonymous when both are empty).</summary>
    public static byte[] WriteBindRequest(int messageId, string name, string password) =>
        Envelope(messageId, w =>
        {
            using (w.PushSequence(App(LdapOperation.BindRequest)))
            {
                w.WriteInteger(3);
                WriteString(w, name);
                WriteString(w, password, new Asn1Tag(TagClass.ContextSpecific, 0));
            }
        });

    public static byte[] WriteSearchRequest(int messageId, string baseObject, LdapScope scope, LdapFilter filter, IEnumerable<string> attributes, int sizeLimit = 0,
        IReadOnlyList<LdapControl>? controls = null) =>
        Envelope(messageId, w =>
        {
            using (w.PushSequence(App(LdapOperation.SearchRequest)))
            {
                WriteString(w, baseObject);
                w.WriteEnumeratedValue(scope);
                w.WriteEnumeratedValue(LdapScope.BaseObject); // derefAliases: neverDerefAliases (0)
                w.WriteInteger(sizeLimit);
                w.WriteInteger(0);
                w.WriteBoolean(false);
                filter.Write(w);
                using (w.PushSequence())
                {
                    foreach (var attribute in attributes)
                    {
                        WriteString(w, attribute);
                    }
                }
            }
        }, controls);

    public static byte[] WriteExtendedRequest(int messageId, string name) =>
        Envelope(messageId, w =>
        {
            using (w.PushSequence(App(LdapOperation.ExtendedRequest)))
            {
                WriteString(w, name, new Asn1Tag(TagClass.ContextSpecific, 0));
            }
        });

    public static byte[] WriteUnbindRequest(int messageId) => Envelope(messageId, w => w.WriteNull(App(LdapOperation.UnbindRequest, constructed: false)));

    /// <summary>The value of a simple paged results control (RFC 2696): SEQUENCE { size INTEGER, cookie OCTET STRING }.</summary>
    public static byte[] WritePagedResultsValue(int size, ReadOnlySpan<byte> cookie)
    {
        var writer = new AsnWriter(AsnEncodingRules.BER);
        using (writer.PushSequence())
        {
            writer.WriteInteger(size);
            writer.WriteOctetString(cookie);
        }

        return writer.Encode();
    }
}
