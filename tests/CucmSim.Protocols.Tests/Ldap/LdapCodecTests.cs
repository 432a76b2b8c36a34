using System.Buffers;
using System.Formats.Asn1;
using CucmSim.Protocols.Ldap;
using CucmSim.Protocols.Tests.Infrastructure;

namespace CucmSim.Protocols.Tests.Ldap;

public sealed class LdapCodecTests
{
    // What `ldapsearch -x` sends first: an anonymous simple bind, message 1, with OpenLDAP's 4-byte lengths.
    private static readonly byte[] AnonymousBind = Convert.FromHexString("300C020101600702010304008000");
    private static readonly byte[] OpenLdapBind = Convert.FromHexString("3084000000100201016084000000070201030400" + "8000");

    private static ReadOnlySequence<byte> Frame(ReadOnlySequence<byte> input, out OperationStatus status, out long consumed, out string? error)
    {
        var reader = new SequenceReader<byte>(input);
        status = LdapCodec.TryReadMessage(ref reader, out var message, out error);
        consumed = reader.Consumed;
        return message;
    }

    [Fact]
    public void Anonymous_bind_of_ldapsearch_is_framed_and_read_across_every_split()
    {
        foreach (var bytes in new[] { AnonymousBind, OpenLdapBind })
        {
            foreach (var sequence in Segments.AllSplits(bytes).Append(Segments.ByteAtATime(bytes)))
            {
                var message = Frame(sequence, out var status, out var consumed, out _);
                Assert.Equal(OperationStatus.Done, status);
                Assert.Equal(bytes.Length, consumed);
                Assert.True(LdapCodec.TryReadRequest(message.ToArray(), out var request, out var id, out var error), error);
                var bind = Assert.IsType<LdapBindRequest>(request);
                Assert.Equal((1, 3, string.Empty, string.Empty), (id, bind.Version, bind.Name, bind.Password));
            }
        }
    }

    [Fact]
    public void Truncated_messages_need_more_and_consume_nothing()
    {
        var search = LdapCodec.WriteSearchRequest(7, "dc=cucmsim,dc=example", LdapScope.WholeSubtree, LdapFilter.Parse("(uid=jdoe)"), ["cn"]);
        foreach (var bytes in new[] { AnonymousBind, OpenLdapBind, search })
        {
            for (var i = 0; i < bytes.Length; i++)
            {
                Frame(Segments.Of(bytes[..(i / 2)], bytes[(i / 2)..i]), out var status, out var consumed, out _);
                Assert.Equal(OperationStatus.NeedMoreData, status);
                Assert.Equal(0, consumed);
            }
        }
    }

    [Theory]
    [InlineData("0480", "not an LDAPMessage")] // not a SEQUENCE
    [InlineData("3080020101", "indefinite length")]
    [InlineData("3085FFFFFFFFFF", "more than four bytes")]
    [InlineData("3084FFFFFFF0", "over the")]
    [InlineData("30837FFFFF", "over the")]
    public void Framing_refuses_what_cannot_be_resynchronised(string hex, string reason)
    {
        Frame(Segments.Of(Convert.FromHexString(hex)), out var status, out var consumed, out var error);
        Assert.Equal(OperationStatus.InvalidData, status);
        Assert.Equal(0, consumed);
        Assert.Contains(reason, error, StringComparison.Ordinal);
    }

    [Fact]
    public void Search_request_round_trips_with_every_filter_kind_and_controls()
    {
        var filter = LdapFilter.Parse("(&(objectClass=person)(|(sAMAccountName=j*o*e)(telephoneNumber>=1003)(cn<=z)(sn~=doe))(!(mail=*))(cn=a\\2ab))");
        var controls = new[] { new LdapControl(LdapOids.PagedResults, true, LdapCodec.WritePagedResultsValue(500, [])) };
        var bytes = LdapCodec.WriteSearchRequest(42, "ou=Users,dc=cucmsim,dc=example", LdapScope.SingleLevel, filter, ["cn", "mail"], 5, controls);
        Assert.True(LdapCodec.TryReadRequest(bytes, out var request, out _, out var error), error);
        var search = Assert.IsType<LdapSearchRequest>(request);
        Assert.Equal(42, search.MessageId);
        Assert.Equal(LdapScope.SingleLevel, search.Scope);
        Assert.Equal(5, search.SizeLimit);
        Assert.Equal(["cn", "mail"], search.Attributes);
        Assert.Equal(filter.ToString(), search.Filter.ToString());
        Assert.Equal("(&(objectClass=person)(|(sAMAccountName=j*o*e)(telephoneNumber>=1003)(cn<=z)(sn~=doe))(!(mail=*))(cn=a\\2ab))", search.Filter.ToString());
        var and = Assert.IsType<LdapAnd>(search.Filter);
        Assert.Equal("a*b", Assert.IsType<LdapCompare>(and.Items[3]).Value);
        var control = Assert.Single(search.Controls);
        Assert.True(control.Criticality);
        Assert.Equal(LdapOids.PagedResults, control.Type);
    }

    [Fact]
    public void Responses_round_trip()
    {
        var entry = LdapCodec.WriteSearchEntry(3, "cn=John Doe,ou=Users,dc=cucmsim,dc=example", [new LdapAttribute("mail", ["jdoe@cucmsim.example"]), new LdapAttribute("cn", ["John Doe"])]);
        Assert.True(LdapCodec.TryReadResponse(entry, out var response, out var error), error);
        var e = Assert.IsType<LdapSearchEntry>(response);
        Assert.Equal(["jdoe@cucmsim.example"], e.Get("MAIL"));

        var notice = LdapCodec.WriteNoticeOfDisconnection(LdapResultCode.ProtocolError, "bad");
        Assert.True(LdapCodec.TryReadResponse(notice, out response, out error), error);
        var result = Assert.IsType<LdapResult>(response);
        Assert.Equal((0, LdapOperation.ExtendedResponse, LdapResultCode.ProtocolError, LdapOids.NoticeOfDisconnection, "bad"),
            (result.MessageId, result.Operation, result.Code, result.ResponseName, result.Diagnostic));
    }

    [Fact]
    public void Filters_nested_past_the_cap_or_with_too_many_terms_are_refused()
    {
        LdapFilter deep = new LdapPresent("cn");
        for (var i = 0; i < LdapFilter.MaxDepth + 4; i++)
        {
            deep = new LdapNot(deep);
        }

        Assert.False(LdapCodec.TryReadRequest(LdapCodec.WriteSearchRequest(1, "", LdapScope.BaseObject, deep, []), out _, out var id, out var error));
        Assert.Equal(1, id);
        Assert.Contains("deeper", error, StringComparison.Ordinal);

        var wide = new LdapOr(Enumerable.Range(0, LdapFilter.MaxElements + 1).Select(i => (LdapFilter)new LdapPresent("a" + i)).ToList());
        Assert.False(LdapCodec.TryReadRequest(LdapCodec.WriteSearchRequest(1, "", LdapScope.BaseObject, wide, []), out _, out _, out error));
        Assert.Contains("elements", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Write_operations_and_unknown_tags_are_told_apart()
    {
        // delRequest [APPLICATION 10] is primitive: a well-formed request this codec does not carry out.
        Assert.True(LdapCodec.TryReadRequest(Convert.FromHexString("300702010A4A026463"), out var request, out _, out _));
        Assert.Equal(LdapOperation.DelRequest, Assert.IsType<LdapOtherRequest>(request).Operation);

        // A bindResponse from a client is not a request.
        Assert.False(LdapCodec.TryReadRequest(Convert.FromHexString("300C02010161070A010004000400"), out _, out var id, out var error));
        Assert.Equal(1, id);
        Assert.Contains("not a request", error, StringComparison.Ordinal);

        // Unbind, abandon, extended.
        Assert.IsType<LdapUnbindRequest>(Read(LdapCodec.WriteUnbindRequest(9)));
        Assert.Equal(LdapOids.StartTls, Assert.IsType<LdapExtendedRequest>(Read(LdapCodec.WriteExtendedRequest(2, LdapOids.StartTls))).Name);
        Assert.Equal(4, Assert.IsType<LdapAbandonRequest>(Read(Convert.FromHexString("3006020105500104"))).AbandonId);
    }

    [Fact]
    public void Sasl_bind_and_bad_strings_are_read_or_refused()
    {
        var writer = new AsnWriter(AsnEncodingRules.BER);
        using (writer.PushSequence())
        {
            writer.WriteInteger(1);
            using (writer.PushSequence(new Asn1Tag(TagClass.Application, 0, true)))
            {
                writer.WriteInteger(3);
                writer.WriteOctetString([]);
                using (writer.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 3, true)))
                {
                    writer.WriteOctetString("GSSAPI"u8);
                }
            }
        }

        var bind = Assert.IsType<LdapBindRequest>(Read(writer.Encode()));
        Assert.Equal(("GSSAPI", null), (bind.SaslMechanism, bind.Password));

        // A DN that is not UTF-8.
        Assert.False(LdapCodec.TryReadRequest(Convert.FromHexString("300D0201016008020103040180" + "8000"), out _, out _, out var error));
        Assert.NotNull(error);
    }

    [Fact]
    public void Random_and_mutated_input_never_throws()
    {
        var search = LdapCodec.WriteSearchRequest(7, "dc=cucmsim,dc=example", LdapScope.WholeSubtree, LdapFilter.Parse("(&(uid=j*)(!(cn=x)))"), ["cn"], 3);
        foreach (var bytes in Fuzz.RandomAndMutated(13, 20_000, 300, AnonymousBind, OpenLdapBind, search))
        {
            var reader = new SequenceReader<byte>(Segments.Of(bytes));
            var status = LdapCodec.TryReadMessage(ref reader, out var message, out _, 4096);
            if (status == OperationStatus.Done)
            {
                LdapCodec.TryReadRequest(message.ToArray(), out _, out _, out _);
                LdapCodec.TryReadResponse(message.ToArray(), out _, out _);
            }

            LdapCodec.TryReadRequest(bytes, out _, out _, out _);
        }
    }

    [Theory]
    [InlineData("(uid=jdoe")]
    [InlineData("(!(a=1)(b=2))")]
    [InlineData("(noequals)")]
    [InlineData("(a=1))")]
    public void Malformed_filter_strings_are_refused(string text) => Assert.Throws<FormatException>(() => LdapFilter.Parse(text));

    private static LdapRequest Read(byte[] bytes)
    {
        Assert.True(LdapCodec.TryReadRequest(bytes, out var request, out _, out var error), error);
        return request!;
    }
}
