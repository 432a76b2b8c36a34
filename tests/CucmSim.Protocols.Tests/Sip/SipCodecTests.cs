using System.Buffers;
using System.Text;
using CucmSim.Protocols.Sip;
using CucmSim.Protocols.Tests.Infrastructure;

namespace CucmSim.Protocols.Tests.Sip;

public sealed class SipCodecTests
{
    private const string Invite =
        "INVITE sip:1001@10.0.0.1:5060 SIP/2.0\r\n" +
        "Via: SIP/2.0/UDP 192.168.1.20:5062;branch=z9hG4bK776asdhds;rport\r\n" +
        "Max-Forwards: 70\r\n" +
        "To: <sip:1001@10.0.0.1>\r\n" +
        "From: \"Alice\" <sip:alice@192.168.1.20>;tag=1928301774\r\n" +
        "Call-ID: a84b4c76e66710@pc33\r\n" +
        "CSeq: 314159 INVITE\r\n" +
        "Contact: <sip:alice@192.168.1.20:5062>\r\n" +
        "Content-Type: application/sdp\r\n" +
        "Content-Length: {0}\r\n\r\n{1}";

    private const string Offer =
        "v=0\r\no=alice 2890844526 2890844526 IN IP4 192.168.1.20\r\ns=-\r\nc=IN IP4 192.168.1.20\r\nt=0 0\r\n" +
        "m=audio 40000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\n";

    internal static string InviteText(string body = Offer) => string.Format(System.Globalization.CultureInfo.InvariantCulture, Invite, Encoding.UTF8.GetByteCount(body), body);

    private static string Text(SipMessage m, SipRange r) => Encoding.UTF8.GetString(m[r]);

    private static string Text(ReadOnlySpan<byte> s) => Encoding.UTF8.GetString(s);

    [Fact]
    public void Parses_a_request_with_sdp()
    {
        var m = new SipMessage();
        Assert.Equal(SipParseError.Ok, m.Parse(Encoding.UTF8.GetBytes(InviteText())));
        Assert.True(m.IsRequest);
        Assert.Equal(SipMethod.Invite, m.Method);
        Assert.Equal("sip:1001@10.0.0.1:5060", Text(m, m.Uri));
        Assert.Equal(314159u, m.CSeqNumber);
        Assert.Equal("INVITE", Text(m, m.CSeqMethod));
        Assert.Equal(70, m.MaxForwards);
        Assert.Equal(1, m.ViaCount);
        Assert.True(SipVia.TryParse(m.Via(0), out var via));
        Assert.Equal("UDP", Text(via.Transport));
        Assert.Equal("192.168.1.20", Text(via.Host));
        Assert.Equal(5062, via.Port);
        Assert.Equal("z9hG4bK776asdhds", Text(via.Branch));
        Assert.True(via.HasRport);
        Assert.Equal("1928301774", Text(SipSyntax.Tag(m.Get(SipHeaderId.From))));
        Assert.True(SipSyntax.Tag(m.Get(SipHeaderId.To)).IsEmpty);
        Assert.Equal(Offer, Text(m, m.Body));
        var sdp = SdpSession.Parse(m[m.Body], out var error);
        Assert.Null(error);
        Assert.Equal("192.168.1.20", sdp!.ConnectionAddress);
        Assert.Equal(40000, sdp.Media[0].Port);
        Assert.Equal([0, 8, 101], sdp.Media[0].Formats);
        Assert.Equal("telephone-event/8000", sdp.Media[0].RtpMaps[101]);
        Assert.Equal(20, sdp.Media[0].Ptime);
    }

    [Fact]
    public void Compact_forms_case_insensitive_names_comma_joined_via_and_folding()
    {
        const string text =
            "OPTIONS sip:nm SIP/2.0\r\n" +
            "v: SIP/2.0/TCP proxy.example.com;branch=z9hG4bK1, SIP/2.0/UDP [2001:db8::9]:5070;branch=z9hG4bK2;received=10.1.1.1\r\n" +
            "VIA: SIP/2.0/UDP third;branch=z9hG4bK3\r\n" +
            "f: <sip:nm@nm>;tag=root\r\n" +
            "t: <sip:nm2@nm2>\r\n" +
            "i: 50000\r\n" +
            "cseq: 42\r\n  OPTIONS\r\n" +
            "m: <sip:nm@nm>\r\n" +
            "Subject:\r\n   folded subject\r\n" +
            "l: 0\r\n\r\n";
        var m = new SipMessage();
        Assert.Equal(SipParseError.Ok, m.Parse(Encoding.UTF8.GetBytes(text)));
        Assert.Equal(3, m.ViaCount);
        Assert.Equal("SIP/2.0/UDP [2001:db8::9]:5070;branch=z9hG4bK2;received=10.1.1.1", Text(m.Via(1)));
        Assert.True(SipVia.TryParse(m.Via(1), out var v));
        Assert.Equal("[2001:db8::9]", Text(v.Host));
        Assert.Equal(5070, v.Port);
        Assert.Equal("50000", Text(m.Get(SipHeaderId.CallId)));
        Assert.Equal(42u, m.CSeqNumber);
        Assert.Equal("OPTIONS", Text(m, m.CSeqMethod));
        Assert.Equal("folded subject", Text(m.Get(SipHeaderId.Subject)));
        Assert.Equal(0, m.ContentLength);
        Assert.Equal("sip:nm@nm", Text(SipSyntax.AddrSpec(m.Get(SipHeaderId.Contact))));
    }

    [Fact]
    public void Parses_a_response()
    {
        const string text = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP a;branch=z9hG4bKx\r\nFrom: <sip:a@a>;tag=1\r\nTo: <sip:b@b>;tag=2\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
        var m = new SipMessage();
        Assert.Equal(SipParseError.Ok, m.Parse(Encoding.UTF8.GetBytes(text)));
        Assert.False(m.IsRequest);
        Assert.Equal(200, m.StatusCode);
        Assert.Equal("OK", Text(m, m.Reason));
    }

    // RFC 4475 §3.1.1: valid messages, reduced to what they exercise.
    public static TheoryData<string> ValidTorture => new()
    {
        // 3.1.1.2 wide range of valid characters / unusual method token
        "!interesting-Method0123456789_*+`.%indeed'~ sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com SIP/2.0\r\n" +
        "Via: SIP/2.0/TCP host1.example.com;branch=z9hG4bK-.!%66*_+`'~\r\nTo: \"BEL:\\\u0007 NUL:\\\0 DEL:\\\u007f\" <sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*@example.com>\r\n" +
        "From: token1~` token2'+_ token3*%!.- <sip:mundane@example.com>;fromParam''~+*_!.-%=\"\u0440\u0430\u0431\u043e\u0442\u0430\u044e\u0449\u0438\u0439\";tag=_token~1'+`*%!-.\r\n" +
        "Call-ID: intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{\r\nCSeq: 139122385 !interesting-Method0123456789_*+`.%indeed'~\r\nMax-Forwards: 255\r\nContent-Length: 0\r\n\r\n",
        // 3.1.1.3 escaped characters in the URI
        "INVITE sip:sips%3Auser%40example.com@example.net SIP/2.0\r\nTo: sip:%75se%72@example.com\r\nFrom: <sip:I%20have%20spaces@example.net>;tag=938\r\nMax-Forwards: 87\r\ni: esc01.239409asdfakjkn23onasd0-3234\r\nCSeq: 234234 INVITE\r\nVia: SIP/2.0/UDP host5.example.net;branch=z9hG4bKkdjuw\r\nl: 0\r\n\r\n",
        // 3.1.1.6 a message with no LWS between display name and <
        "OPTIONS sip:user@example.com SIP/2.0\r\nTo: sip:user@example.com\r\nFrom: caller<sip:caller@example.com>;tag=323\r\nMax-Forwards: 70\r\nCall-ID: lwsdisp.1234abcd@funky.example.com\r\nCSeq: 60 OPTIONS\r\nVia: SIP/2.0/UDP funky.example.com;branch=z9hG4bKkdjuw\r\nl: 0\r\n\r\n",
        // 3.1.1.9 semicolon-separated parameters in the URI user part
        "OPTIONS sip:user;par=u%40example.net@example.com SIP/2.0\r\nTo: sip:j_user@example.com\r\nFrom: sip:caller@example.org;tag=33242\r\nMax-Forwards: 3\r\nCall-ID: semiuri.0ha0isndaksdj\r\nCSeq: 8 OPTIONS\r\nAccept: application/sdp, application/pkcs7-mime,\r\n        multipart/mixed, multipart/signed,\r\n        message/sip, message/sipfrag\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKkdjuw\r\nl: 0\r\n\r\n",
        // 3.1.1.10 unknown transports
        "OPTIONS sip:user@example.com SIP/2.0\r\nTo: sip:user@example.com\r\nFrom: <sip:caller@example.com>;tag=323\r\nMax-Forwards: 70\r\nCall-ID: transports.kijh4akdnaqjkwendsasfdj\r\nAccept: application/sdp\r\nCSeq: 60 OPTIONS\r\nVia: SIP/2.0/UDP t1.example.com;branch=z9hG4bKkdjuw\r\nVia: SIP/2.0/SCTP t2.example.com;branch=z9hG4bKklasjdhf\r\nVia: SIP/2.0/TLS t3.example.com;branch=z9hG4bK2980unddj\r\nVia: SIP/2.0/UNKNOWN t4.example.com;branch=z9hG4bKasd0f3en\r\nVia: SIP/2.0/TCP t5.example.com;branch=z9hG4bK0a9idfnee\r\nl: 0\r\n\r\n",
        // 3.1.1.12 unusual reason phrase (response)
        "SIP/2.0 200 = 2**3 * 5**2 \u043d\u043e \u0441\u0442\u043e\r\nVia: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923\r\nCall-ID: unreason.1234ksdfak3j2erwedfsASdf\r\nCSeq: 35 INVITE\r\nFrom: sip:user@example.com;tag=11141343\r\nTo: sip:user@example.edu;tag=2229\r\nContent-Length: 0\r\n\r\n",
        // 3.1.1.13 empty reason phrase
        "SIP/2.0 100 \r\nVia: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe\r\nCall-ID: noreason.asndj203insdf99223ndf\r\nCSeq: 35 INVITE\r\nFrom: <sip:user@example.com>;tag=39ansfi3\r\nTo: <sip:user@example.edu>;tag=902jndnke3\r\nContent-Length: 0\r\n\r\n",
    };

    [Theory]
    [MemberData(nameof(ValidTorture))]
    public void Valid_torture_messages_parse(string text)
    {
        var m = new SipMessage();
        Assert.Equal(SipParseError.Ok, m.Parse(Encoding.UTF8.GetBytes(text)));
    }

    // RFC 4475 §3.1.2 (invalid) and §3.3 (version), reduced to the defect each one carries.
    public static TheoryData<string, SipParseError> InvalidTorture => new()
    {
        // 3.1.2.2 Content-Length larger than the message
        { "INVITE sip:user@example.com SIP/2.0\r\nMax-Forwards: 80\r\nTo: sip:j.user@example.com\r\nFrom: sip:caller@example.net;tag=93942939o2\r\nContact: <sip:caller@hungry.example.net>\r\nCall-ID: clerr.0ha0isndaksdjweiafasdk3\r\nCSeq: 8 INVITE\r\nVia: SIP/2.0/UDP host5.example.com;branch=z9hG4bK-39234-23523\r\nContent-Type: application/sdp\r\nContent-Length: 9999\r\n\r\nv=0\r\n", SipParseError.TruncatedBody },
        // 3.1.2.3 negative Content-Length
        { "INVITE sip:user@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nTo: sip:a@b\r\nFrom: sip:c@d;tag=1\r\nCall-ID: ncl\r\nCSeq: 1 INVITE\r\nContent-Length: -999\r\n\r\n", SipParseError.BadContentLength },
        // 3.1.2.4 request scalar fields with overlarge values
        { "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/TCP host129.example.com;branch=z9hG4bK342sdfoi3\r\nTo: <sip:user@example.com>\r\nFrom: <sip:user@example.com>;tag=239232jh3\r\nCSeq: 36893488147419103232 REGISTER\r\nCall-ID: scalar02.23o0pd9vanlq3wnrlnewofjas9ui32\r\nMax-Forwards: 300\r\nl: 0\r\n\r\n", SipParseError.BadCSeq },
        // 3.1.2.6 unterminated quoted string in display name
        { "INVITE sip:user@example.com SIP/2.0\r\nTo: sip:user@example.com\r\nFrom: \"Bob <sip:bob@example.com>;tag=37492\r\nCall-ID: quotbal.aksdj\r\nCSeq: 8 INVITE\r\nVia: SIP/2.0/UDP 192.0.2.15;branch=z9hG4bKkdjuw, \"x\r\nl: 0\r\n\r\n", SipParseError.BadVia },
        // 3.1.2.7 <> enclosing Request-URI
        { "INVITE <sip:user@example.com> SIP/2.0\r\nTo: sip:user@example.com\r\nFrom: sip:caller@example.net;tag=39291\r\nCall-ID: ltgtruri.1@192.0.2.5\r\nCSeq: 1 INVITE\r\nVia: SIP/2.0/UDP 192.0.2.5;branch=z9hG4bKkdjuw\r\nl: 0\r\n\r\n", SipParseError.BadStartLine },
        // 3.1.2.8 malformed SIP Request-URI (embedded LWS)
        { "INVITE sip:user@example.com; lr SIP/2.0\r\nTo: sip:user@example.com;tag=3xfe-9921883-z9f\r\nFrom: sip:caller@example.net;tag=231413434\r\nCall-ID: lwsruri.asdfasdoeoi2323-asdfwrn23-asd834rk423\r\nCSeq: 2130706432 INVITE\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKkdjuw2395\r\nl: 0\r\n\r\n", SipParseError.BadStartLine },
        // 3.1.2.9 multiple SP separating Request-Line elements
        { "INVITE  sip:user@example.com  SIP/2.0\r\nTo: sip:user@example.com\r\nFrom: sip:caller@example.net;tag=1\r\nCall-ID: lwsstart\r\nCSeq: 1 INVITE\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\nl: 0\r\n\r\n", SipParseError.BadStartLine },
        // 3.1.2.11 multiple values in single-value required fields (Content-Length)
        { "INVITE sip:user@example.com SIP/2.0\r\nCall-ID: multi01.98asdh@192.0.2.1\r\nCSeq: 59 INVITE\r\nVia: SIP/2.0/UDP 192.0.2.25;branch=z9hG4bKkdjuw\r\nTo: sip:user@example.com\r\nFrom: sip:caller@example.net;tag=3413415\r\nContent-Length: 0\r\nContent-Length: 12\r\n\r\n012345678901", SipParseError.BadContentLength },
        // 3.1.2.15 missing mandatory header fields
        { "INVITE sip:user@example.com SIP/2.0\r\nCSeq: 193942 INVITE\r\nVia: SIP/2.0/UDP 192.0.2.95;branch=z9hG4bKkdj.insuf\r\nContent-Length: 0\r\n\r\n", SipParseError.MissingHeader },
        // 3.1.2.16 request-method / CSeq-method mismatch
        { "OPTIONS sip:user@example.com SIP/2.0\r\nTo: sip:j.user@example.com\r\nFrom: sip:caller@example.net;tag=34525\r\nMax-Forwards: 6\r\nCall-ID: mismatch01.dj0234sxdfl3\r\nCSeq: 8 INVITE\r\nVia: SIP/2.0/UDP host.example.com;branch=z9hG4bKkdjuw\r\nl: 0\r\n\r\n", SipParseError.BadCSeq },
        // 3.3.1 unknown protocol version
        { "OPTIONS sip:t.watson@example.org SIP/7.0\r\nVia: SIP/7.0/UDP c.example.com;branch=z9hG4bKkdjuw\r\nMax-Forwards: 70\r\nFrom: A. Bell <sip:a.g.bell@example.com>;tag=qweoiqpe\r\nTo: T. Watson <sip:t.watson@example.org>\r\nCall-ID: badvers01.31415@c.example.com\r\nCSeq: 1 OPTIONS\r\nl: 0\r\n\r\n", SipParseError.BadVersion },
        // a header line without a colon
        { "OPTIONS sip:a@b SIP/2.0\r\nVia SIP/2.0/UDP h;branch=z9hG4bK1\r\n\r\n", SipParseError.BadHeader },
        // not SIP at all (nmap GenericLines, HTTP)
        { "\r\n\r\n", SipParseError.NotSip },
        { "GET / HTTP/1.0\r\n\r\n", SipParseError.NotSip },
    };

    [Theory]
    [MemberData(nameof(InvalidTorture))]
    public void Invalid_torture_messages_are_rejected(string text, SipParseError expected)
    {
        var m = new SipMessage();
        Assert.Equal(expected, m.Parse(Encoding.UTF8.GetBytes(text)));
    }

    [Fact]
    public void Bytes_past_content_length_in_a_datagram_are_discarded()
    {
        var m = new SipMessage();
        var text = InviteText("v=0\r\n") + "garbage";
        Assert.Equal(SipParseError.Ok, m.Parse(Encoding.UTF8.GetBytes(text)));
        Assert.Equal("v=0\r\n", Text(m, m.Body));
    }

    [Fact]
    public void Limits_size_and_header_count()
    {
        var small = new SipMessage(maxSize: 512, maxHeaders: 8);
        Assert.Equal(SipParseError.TooLarge, small.Parse(Encoding.UTF8.GetBytes(InviteText())));
        var many = "OPTIONS sip:a@b SIP/2.0\r\n" + string.Concat(Enumerable.Repeat("X-A: 1\r\n", 9)) + "\r\n";
        Assert.Equal(SipParseError.TooManyHeaders, small.Parse(Encoding.UTF8.GetBytes(many)));
        var big = new SipMessage();
        Assert.Equal(SipParseError.TooLarge, big.Parse(new byte[SipMessage.DefaultMaxSize + 1]));
    }

    [Fact]
    public void Every_truncation_and_random_input_is_refused_without_throwing()
    {
        var full = Encoding.UTF8.GetBytes(InviteText());
        var m = new SipMessage();
        for (var n = 0; n < full.Length; n++)
        {
            Assert.NotEqual(SipParseError.Ok, m.Parse(full.AsSpan(0, n)));
        }

        var random = new Random(4475);
        var buffer = new byte[2048];
        for (var i = 0; i < 2000; i++)
        {
            var length = random.Next(buffer.Length);
            random.NextBytes(buffer.AsSpan(0, length));
            if (i % 2 == 0)
            {
                // Mutate a valid message instead of pure noise, to get past the start line.
                full.AsSpan(0, Math.Min(length, full.Length)).CopyTo(buffer);
                for (var k = 0; k < 4; k++)
                {
                    buffer[random.Next(Math.Max(1, length))] = (byte)random.Next(256);
                }
            }

            m.Parse(buffer.AsSpan(0, length));
            var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(buffer, 0, length));
            while (SipFraming.TryRead(ref reader, 4096, out _) == OperationStatus.Done)
            {
            }
        }
    }

    [Fact]
    public void Stream_framing_handles_every_split_point_and_keepalives()
    {
        var one = InviteText();
        var stream = Encoding.UTF8.GetBytes("\r\n\r\n" + one + "\r\n" + one.Replace("Content-Length:", "l:", StringComparison.Ordinal));
        for (var split = 0; split <= stream.Length; split++)
        {
            for (var split2 = split; split2 <= stream.Length; split2 += Math.Max(1, stream.Length / 7))
            {
                var sequence = Segments.Of(stream[..split], stream[split..split2], stream[split2..]);
                var reader = new SequenceReader<byte>(sequence);
                var messages = new List<byte[]>();
                while (SipFraming.TryRead(ref reader, SipMessage.DefaultMaxSize, out var message) == OperationStatus.Done)
                {
                    messages.Add(message.ToArray());
                }

                Assert.Equal(3, messages.Count);
                Assert.True(SipFraming.IsKeepAlive(new ReadOnlySequence<byte>(messages[0])));
                var m = new SipMessage();
                Assert.Equal(SipParseError.Ok, m.Parse(Segments.Of(messages[2][..(split % messages[2].Length)], messages[2][(split % messages[2].Length)..])));
                Assert.Equal(Offer, Text(m, m.Body));
                Assert.Equal(0, reader.Remaining);
            }
        }

        // A prefix needs more data and consumes nothing.
        var prefix = new SequenceReader<byte>(new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes(one[..^5])));
        Assert.Equal(OperationStatus.NeedMoreData, SipFraming.TryRead(ref prefix, SipMessage.DefaultMaxSize, out _));
        Assert.Equal(0, prefix.Consumed);
    }

    [Fact]
    public void Stream_framing_rejects_oversized_headers_and_bodies()
    {
        var endless = new SequenceReader<byte>(new ReadOnlySequence<byte>(new byte[70_000]));
        Assert.Equal(OperationStatus.InvalidData, SipFraming.TryRead(ref endless, SipMessage.DefaultMaxSize, out _));
        var huge = new SequenceReader<byte>(new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes("OPTIONS sip:a SIP/2.0\r\nContent-Length: 99999999\r\n\r\n")));
        Assert.Equal(OperationStatus.InvalidData, SipFraming.TryRead(ref huge, SipMessage.DefaultMaxSize, out _));
        var binary = new SequenceReader<byte>(new ReadOnlySequence<byte>(new byte[] { 0x80, 0, 0, 0x28, 0x72 }));
        Assert.Equal(OperationStatus.InvalidData, SipFraming.TryRead(ref binary, SipMessage.DefaultMaxSize, out _));
        var help = new SequenceReader<byte>(new ReadOnlySequence<byte>("HELP\r\n"u8.ToArray()));
        Assert.Equal(OperationStatus.InvalidData, SipFraming.TryRead(ref help, SipMessage.DefaultMaxSize, out _));
        var bad = new SequenceReader<byte>(new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes("OPTIONS sip:a SIP/2.0\r\nl: x\r\n\r\n")));
        Assert.Equal(OperationStatus.InvalidData, SipFraming.TryRead(ref bad, SipMessage.DefaultMaxSize, out _));
    }

    [Fact]
    public void Sdp_builds_and_parses_ipv4_and_ipv6()
    {
        var offer = SdpSession.Parse(Encoding.UTF8.GetBytes(Offer), out _);
        var answer = SdpSession.Answer(offer, "CiscoSystemsCCM-SIP", "10.0.0.1", 24580, 2000);
        var text = answer.ToString();
        Assert.Contains("o=CiscoSystemsCCM-SIP 2000 1 IN IP4 10.0.0.1\r\n", text, StringComparison.Ordinal);
        Assert.Contains("c=IN IP4 10.0.0.1\r\n", text, StringComparison.Ordinal);
        Assert.Contains("m=audio 24580 RTP/AVP 0 8 101\r\n", text, StringComparison.Ordinal);
        Assert.Contains("a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n", text, StringComparison.Ordinal);
        Assert.Contains("a=ptime:20\r\n", text, StringComparison.Ordinal);

        var v6 = SdpSession.Answer(null, "x", "2001:db8::1", 30000, 1).ToString();
        Assert.Contains("c=IN IP6 2001:db8::1\r\n", v6, StringComparison.Ordinal);
        var parsed = SdpSession.Parse(Encoding.UTF8.GetBytes(v6), out var error);
        Assert.Null(error);
        Assert.Equal("IP6", parsed!.ConnectionAddressType);
        Assert.Equal("2001:db8::1", parsed.ConnectionAddress);
        Assert.Equal([0], parsed.Media[0].Formats);

        Assert.Null(SdpSession.Parse("hello"u8, out error));
        Assert.NotNull(error);
        Assert.Null(SdpSession.Parse(new byte[SdpSession.MaxSize + 1], out _));
    }

    [Fact]
    public void Digest_matches_rfc2617_example()
    {
        // RFC 2617 §3.5 example.
        Assert.Equal("6629fae49393a05397450978507c4ef1",
            SipDigest.Response("Mufasa", "testrealm@host.com", "Circle Of Life", "GET", "/dir/index.html", "dcd98b7102dd2f0e8b11d0f600bfb0c093", "auth", "00000001", "0a4f113b"));
        var p = SipDigest.ParseChallengeOrCredentials("Digest username=\"Mufasa\", realm=\"testrealm@host.com\", qop=auth, nc=00000001, response=\"6629fae49393a05397450978507c4ef1\""u8);
        Assert.Equal("Mufasa", p!["username"]);
        Assert.Equal("auth", p["qop"]);
        Assert.Equal("00000001", p["nc"]);
    }

    [Fact]
    public void Authorization_answers_the_rfc2617_challenge_with_qop_auth_and_without_qop_in_the_old_form()
    {
        // RFC 2617 §3.5: the challenge offers "auth,auth-int"; the answer takes auth and carries nc and cnonce.
        var challenge = SipDigest.ParseChallengeOrCredentials("Digest realm=\"testrealm@host.com\", qop=\"auth,auth-int\", nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", opaque=\"5ccc069c403ebaf9f0171e9517f40e41\""u8)!;
        var value = SipDigest.Authorization(challenge, "Mufasa", "Circle Of Life", "GET", "/dir/index.html", "00000001", "0a4f113b");
        var answer = SipDigest.ParseChallengeOrCredentials(System.Text.Encoding.UTF8.GetBytes(value))!;
        Assert.Equal("6629fae49393a05397450978507c4ef1", answer["response"]);
        Assert.Equal("auth", answer["qop"]);
        Assert.Equal("00000001", answer["nc"]);
        Assert.Equal("0a4f113b", answer["cnonce"]);
        Assert.Equal("/dir/index.html", answer["uri"]);
        Assert.Equal("5ccc069c403ebaf9f0171e9517f40e41", answer["opaque"]);

        // Without qop: RFC 2069's response, and no nc or cnonce.
        challenge.Remove("qop");
        var old = SipDigest.ParseChallengeOrCredentials(System.Text.Encoding.UTF8.GetBytes(SipDigest.Authorization(challenge, "Mufasa", "Circle Of Life", "GET", "/dir/index.html", "00000001", "0a4f113b")))!;
        Assert.False(old.ContainsKey("qop") || old.ContainsKey("nc") || old.ContainsKey("cnonce"));
        challenge.Remove("opaque");
        Assert.DoesNotContain("opaque", SipDigest.Authorization(challenge, "Mufasa", "Circle Of Life", "GET", "/dir/index.html", "00000001", "0a4f113b"), StringComparison.Ordinal);
        Assert.Equal(SipDigest.Response("Mufasa", "testrealm@host.com", "Circle Of Life", "GET", "/dir/index.html", "dcd98b7102dd2f0e8b11d0f600bfb0c093"), old["response"]);
    }

    [Fact]
    public void A_401_is_answered_with_authorization_a_407_with_proxy_authorization_and_anything_else_with_nothing()
    {
        var challenge = "Digest realm=\"ccmsipline\", nonce=\"abc\", qop=\"auth\", algorithm=MD5"u8;
        var www = SipDigest.AnswerLine(401, challenge, "1001", "pw", "INVITE", "sip:2000@cucm", "0a4f113b")!;
        var proxy = SipDigest.AnswerLine(407, challenge, "1001", "pw", "INVITE", "sip:2000@cucm", "0a4f113b");
        Assert.StartsWith("Authorization: Digest username=\"1001\"", www, StringComparison.Ordinal);
        Assert.StartsWith("Proxy-Authorization: Digest username=\"1001\"", proxy, StringComparison.Ordinal);
        Assert.EndsWith("\r\n", www, StringComparison.Ordinal);
        var answer = SipDigest.ParseChallengeOrCredentials(System.Text.Encoding.ASCII.GetBytes(www[(www.IndexOf(' ') + 1)..^2]))!;
        Assert.Equal(SipDigest.Response("1001", "ccmsipline", "pw", "INVITE", "sip:2000@cucm", "abc", "auth", "00000001", "0a4f113b"), answer["response"]);
        Assert.Equal(("WWW-Authenticate", "Proxy-Authenticate", null), (SipDigest.ChallengeHeader(401), SipDigest.ChallengeHeader(407), SipDigest.ChallengeHeader(403)));

        Assert.Null(SipDigest.AnswerLine(403, challenge, "1001", "pw", "INVITE", "sip:2000@cucm", "c"));
        Assert.Null(SipDigest.AnswerLine(401, "Basic realm=\"x\""u8, "1001", "pw", "INVITE", "sip:2000@cucm", "c"));
        Assert.Null(SipDigest.AnswerLine(401, ReadOnlySpan<byte>.Empty, "1001", "pw", "INVITE", "sip:2000@cucm", "c"));

        // Truncated at every length, and random bytes: an answer or none, never an exception.
        for (var n = 0; n < challenge.Length; n++)
        {
            _ = SipDigest.AnswerLine(401, challenge[..n], "1001", "pw", "INVITE", "sip:2000@cucm", "c");
        }

        var random = new Random(17);
        var bytes = new byte[300];
        for (var i = 0; i < 5000; i++)
        {
            random.NextBytes(bytes);
            _ = SipDigest.AnswerLine(407, bytes.AsSpan(0, random.Next(bytes.Length)), "1001", "pw", "BYE", "sip:2000@cucm", "c");
        }
    }
}
